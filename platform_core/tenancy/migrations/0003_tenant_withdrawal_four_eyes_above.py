from decimal import Decimal

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tenancy', '0002_row_security'),
    ]

    operations = [
        migrations.AddField(
            model_name='tenant',
            name='withdrawal_four_eyes_above',
            field=models.DecimalField(decimal_places=4, default=Decimal('50000'), help_text='Withdrawals above this amount need a second operations person. In the base currency; amounts in other currencies are compared as is, without conversion.', max_digits=28),
        ),
    ]
