"""Exchange holidays (weekdays the market is closed), 2025-2027: the trading calendar's seed.

Sources, compared day by day for every weekday of the period before this file was written:

- XNYS (New York Stock Exchange): the NYSE's published holiday schedule
  (https://www.nyse.com/markets/hours-calendars), including the 9 January 2025 closure for
  the national day of mourning for President Carter and the Friday closures when a holiday
  falls on a Saturday (Juneteenth 2027, Christmas 2027). The same days are in the
  ``holidays`` package's XNYS calendar (0.108) and ``exchange_calendars`` (4.13.2).
- XSHG / XSHE (Shanghai and Shenzhen stock exchanges, closed on the same days): the State
  Council's annual holiday notices (国务院办公厅关于2025年/2026年部分节假日安排的通知) as the
  exchanges republish them (上交所/深交所 "休市安排"). Weekend make-up working days (调休) are
  not trading days, so only weekdays are listed. 2025 and 2026 agree across ``holidays``
  0.108, ``exchange_calendars`` 4.13.2 and ``chinese_calendar`` 1.11.0.
- 2027 for XSHG / XSHE is PROVISIONAL: the State Council publishes the 2027 notice at the
  end of 2026, and until then these are the statutory holidays (Spring Festival, Qingming,
  Labour Day, Dragon Boat, Mid-Autumn, National Day) with the usual observances, as the
  ``holidays`` package computes them. Replace them with the exchanges' notice when it is out
  (a new data migration, never an edit of the applied one).

Plain data, no Django: the migration ``0004_database_rules`` seeds ``TradingHoliday`` from it.
"""

HOLIDAYS: dict[str, tuple[tuple[str, str], ...]] = {
    "XNYS": (
        ("2025-01-01", "New Year's Day"),
        ("2025-01-09", "National Day of Mourning for former President Jimmy Carter"),
        ("2025-01-20", "Martin Luther King Jr. Day"),
        ("2025-02-17", "Washington's Birthday"),
        ("2025-04-18", "Good Friday"),
        ("2025-05-26", "Memorial Day"),
        ("2025-06-19", "Juneteenth National Independence Day"),
        ("2025-07-04", "Independence Day"),
        ("2025-09-01", "Labor Day"),
        ("2025-11-27", "Thanksgiving Day"),
        ("2025-12-25", "Christmas Day"),
        ("2026-01-01", "New Year's Day"),
        ("2026-01-19", "Martin Luther King Jr. Day"),
        ("2026-02-16", "Washington's Birthday"),
        ("2026-04-03", "Good Friday"),
        ("2026-05-25", "Memorial Day"),
        ("2026-06-19", "Juneteenth National Independence Day"),
        ("2026-07-03", "Independence Day (observed)"),
        ("2026-09-07", "Labor Day"),
        ("2026-11-26", "Thanksgiving Day"),
        ("2026-12-25", "Christmas Day"),
        ("2027-01-01", "New Year's Day"),
        ("2027-01-18", "Martin Luther King Jr. Day"),
        ("2027-02-15", "Washington's Birthday"),
        ("2027-03-26", "Good Friday"),
        ("2027-05-31", "Memorial Day"),
        ("2027-06-18", "Juneteenth National Independence Day (observed)"),
        ("2027-07-05", "Independence Day (observed)"),
        ("2027-09-06", "Labor Day"),
        ("2027-11-25", "Thanksgiving Day"),
        ("2027-12-24", "Christmas Day (observed)"),
    ),
    "XSHG": (
        ("2025-01-01", "New Year's Day"),
        ("2025-01-28", "Chinese New Year's Eve"),
        ("2025-01-29", "Chinese New Year (Spring Festival)"),
        ("2025-01-30", "Chinese New Year (Spring Festival)"),
        ("2025-01-31", "Chinese New Year (Spring Festival)"),
        ("2025-02-03", "Day off (substituted from 01/26/2025)"),
        ("2025-02-04", "Day off (substituted from 02/08/2025)"),
        ("2025-04-04", "Tomb-Sweeping Day"),
        ("2025-05-01", "Labor Day"),
        ("2025-05-02", "Labor Day"),
        ("2025-05-05", "Day off (substituted from 04/27/2025)"),
        ("2025-06-02", "Dragon Boat Festival (observed)"),
        ("2025-10-01", "National Day"),
        ("2025-10-02", "National Day"),
        ("2025-10-03", "National Day"),
        ("2025-10-06", "Mid-Autumn Festival"),
        ("2025-10-07", "Day off (substituted from 09/28/2025)"),
        ("2025-10-08", "Day off (substituted from 10/11/2025)"),
        ("2026-01-01", "New Year's Day"),
        ("2026-01-02", "Day off (substituted from 01/04/2026)"),
        ("2026-02-16", "Chinese New Year's Eve"),
        ("2026-02-17", "Chinese New Year (Spring Festival)"),
        ("2026-02-18", "Chinese New Year (Spring Festival)"),
        ("2026-02-19", "Chinese New Year (Spring Festival)"),
        ("2026-02-20", "Day off (substituted from 02/14/2026)"),
        ("2026-02-23", "Day off (substituted from 02/28/2026)"),
        ("2026-04-06", "Tomb-Sweeping Day (observed)"),
        ("2026-05-01", "Labor Day"),
        ("2026-05-04", "Labor Day (observed)"),
        ("2026-05-05", "Day off (substituted from 05/09/2026)"),
        ("2026-06-19", "Dragon Boat Festival"),
        ("2026-09-25", "Mid-Autumn Festival"),
        ("2026-10-01", "National Day"),
        ("2026-10-02", "National Day"),
        ("2026-10-05", "National Day (observed)"),
        ("2026-10-06", "Day off (substituted from 09/20/2026)"),
        ("2026-10-07", "Day off (substituted from 10/10/2026)"),
        ("2027-01-01", "New Year's Day"),
        ("2027-02-05", "Chinese New Year's Eve"),
        ("2027-02-08", "Chinese New Year (Spring Festival)"),
        ("2027-02-09", "Chinese New Year (Spring Festival) (observed)"),
        ("2027-02-10", "Chinese New Year (Spring Festival) (observed)"),
        ("2027-04-05", "Tomb-Sweeping Day"),
        ("2027-05-03", "Labor Day (observed)"),
        ("2027-05-04", "Labor Day (observed)"),
        ("2027-06-09", "Dragon Boat Festival"),
        ("2027-09-15", "Mid-Autumn Festival"),
        ("2027-10-01", "National Day"),
        ("2027-10-04", "National Day (observed)"),
        ("2027-10-05", "National Day (observed)"),
    ),
}
# Shenzhen keeps Shanghai's calendar.
HOLIDAYS["XSHE"] = HOLIDAYS["XSHG"]
