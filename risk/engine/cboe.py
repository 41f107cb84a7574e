"""``cboe-strategy``: US Reg T / FINRA Rule 4210 / Cboe Rule 10.3 strategy-based margin.

The numbers are the contract's "held" view (../shared/contracts/margin-cli.md, Definitions): a
group needs the rule book's requirement on its stock and short legs, plus the full value of the
long options that have no loan value, less the market value of its short options. So a naked
call whose rule-book requirement is 1,150 including 150 of premium needs 1,000, a credit spread
of width 100 sold for 35 needs 65, a debit spread its net debit. Initial and maintenance use the
same current prices (the portfolio carries no trade prices); they differ in the stock rates and
in the hedged-underlying maintenance rules.

Rules, per share (S the underlying price, K a strike, OTM the out-of-the-money amount):

=====================  ========================================  ==================================
strategy               initial                                   maintenance
=====================  ========================================  ==================================
long stock             50 %                                      25 %
short stock            50 % (proceeds already held), at least    >= $5: max(30 %, $5); below $5:
                       the maintenance                           max(100 %, $2.50)
long option            100 %; more than 9 months to expiry: 75 % the same at the current value
naked call / put       max(20 % x S - OTM, 10 % x S for a call   the same at current values
                       or 10 % x K for a put); 15 % for a broad-
                       based index; x leverage for leveraged ETFs
covered call           stock 50 % - call proceeds                25 % x min(S, K) - call value
covered put            short stock + put ITM - put proceeds      the same with maintenance rates
protective put / call  stock + the option                        min(10 % x K + OTM, stock rate)
                                                                 + the option
collar, conversion     stock 50 % + put - call                   min(10 % x K_put + OTM_put,
                                                                 25 % x min(S, K_call)) + put - call
reverse conversion     short stock + put ITM + call - put        min(protective call + put ITM,
                                                                 10 % x K + put ITM) + call - put
straddle / strangle    the greater side's requirement (the       the same
(short)                other side's premium is in the proceeds)
spreads and every      maximum potential loss netted at every    the same
other structure        strike present (FINRA RN 12-44) + longs
                       paid in full - short proceeds
=====================  ========================================  ==================================

A spread's short legs must expire on or before its long legs (a European long on the same day),
its short legs share one expiry, and its long legs are paid in full, with no loan value. A
group's requirement is never below zero.

How the legs are grouped (per underlying, so the search stays small):

1. The stock is margined as it is: long, short, or the cover of short options (step 2).
2. Every short contract is paired exactly, by a min-cost flow: covered by the stock (a covered
   call adds nothing to the stock's requirement, a covered put its in-the-money amount), in a
   vertical or calendar spread with a long of the same right (charged the lesser of its naked
   requirement and the pair's maximum loss, as 4210(f)(2) allows), in a short straddle/strangle
   with a short of the other right, or naked. Unlike a greedy matcher, this finds the cheapest
   pairing: covered spreads are never charged as naked, and long options keep their loan value
   when pairing them is not worth giving it up.
3. The spreads sharing a short expiry are netted into one structure at its maximum potential loss,
   never more than the spreads apart (an iron condor pays its wider wing once, a butterfly its
   net debit). A bounded local search (at most eight rounds of the best single move) then moves
   short series, whole or one block at a time, between the structure and the pairing, lets spare
   longs join, moves longs between expiries, and finally drops the longs a structure does not
   need. On random books of up to six contracts priced without arbitrage it finds what an
   exhaustive search over every partition finds (tests/risk/test_cboe_properties.py).
4. A structure is split back into the smallest named strategies that keep its requirement
   (``iron_condor``, ``butterfly``, ``vertical_spread``...); what cannot be split is ``max_loss``.
5. Long puts left over hedge long stock (``protective_put``, or ``collar``/``conversion`` with a
   covered call), long calls hedge short stock; long calls and puts left over pair as long
   straddles or strangles, which changes nothing but the explanation.

Every step only ever lowers the total, so the result is never above the legs margined
separately, and it scales with the quantities. Decisions compare initial requirements first,
then maintenance. Everything is ``Decimal``; ``result_assemble`` rounds once per group.

Parameters (the portfolio's ``parameters`` override them): ``long_stock_initial`` 0.50,
``long_stock_maintenance`` 0.25, ``short_stock_initial`` 0.50, ``short_stock_maintenance`` 0.30,
``short_stock_per_share`` 5.00, ``low_price`` 5.00, ``low_price_maintenance`` 1.00,
``low_price_per_share`` 2.50, ``naked`` 0.20, ``naked_broad_index`` 0.15, ``naked_minimum`` 0.10,
``long_option_required`` 0.75, ``loan_value_months`` 9, ``hedge_minimum`` 0.10.

Sources: Cboe "Strategy-based Margin" (https://markets.cboe.com/us/options/strategy_based_margin/)
and Margin Manual (https://docslib.org/doc/6485279/margin-manual); FINRA Rule 4210 and RN 12-44
(https://www.finra.org/rules-guidance/notices/12-44); the worked examples cited in
tests/risk/test_cboe_examples.py. Not modelled: cross-underlying covers (SPY against SPX
calls), house add-ons, the $2,000 minimum equity, leveraged-ETF stock rates.
"""

from __future__ import annotations

import calendar
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from risk.engine.parameters import PolicyParameters
from risk.engine.policies import policy_register
from risk.engine.portfolio import Instrument, Portfolio, PortfolioError
from risk.engine.result import Group, MarginResult, result_assemble

POLICY = "cboe-strategy"
ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")
# A structure split into more atoms than this is reported whole: the merge is cubic.
MAX_SPLIT_ATOMS = 12
MAX_SEARCH_ROUNDS = 8
# Far below a cent: between covers that cost the same initially, the stock's (which also lowers
# the stock's maintenance) wins.
TIE_BREAK = Decimal("1e-9")
# Multi-leg strategies reported whole rather than as the spreads they are made of.
WHOLE_STRATEGIES = ("butterfly", "condor", "iron_condor", "iron_butterfly", "box")

Legs = dict["Option", Decimal]  # option series → signed contracts (short < 0)


@dataclass(frozen=True)
class Rates:
    """The rule book's rates; every one can be overridden by the portfolio's ``parameters``."""

    long_stock_initial: Decimal = Decimal("0.50")
    long_stock_maintenance: Decimal = Decimal("0.25")
    short_stock_initial: Decimal = Decimal("0.50")
    short_stock_maintenance: Decimal = Decimal("0.30")
    short_stock_per_share: Decimal = Decimal("5.00")
    low_price: Decimal = Decimal("5.00")
    low_price_maintenance: Decimal = Decimal("1.00")
    low_price_per_share: Decimal = Decimal("2.50")
    naked: Decimal = Decimal("0.20")
    naked_broad_index: Decimal = Decimal("0.15")
    naked_minimum: Decimal = Decimal("0.10")
    long_option_required: Decimal = Decimal("0.75")
    loan_value_months: Decimal = Decimal(9)
    hedge_minimum: Decimal = Decimal("0.10")


def rates_read(portfolio: Portfolio) -> Rates:
    """The default rates with the portfolio's overrides (an unknown name is an error)."""
    defaults = Rates()
    names = [f.name for f in fields(Rates)]
    parameters = PolicyParameters(portfolio, policy=POLICY, names=names)
    values = {name: parameters.value(name, getattr(defaults, name), low=ZERO) for name in names}
    months = values["loan_value_months"]
    if months != months.to_integral_value():
        raise PortfolioError("parameters.loan_value_months", f"{months} is not a whole number")
    return Rates(**values)


@dataclass(frozen=True, order=True)
class Option:
    """One option series as this policy sees it (ordered for a deterministic search)."""

    right: str
    expiry: date
    strike: Decimal
    symbol: str
    multiplier: Decimal = field(compare=False)
    price: Decimal = field(compare=False)
    european: bool = field(compare=False)
    loan_value: bool = field(compare=False)  # held long, it would have loan value

    @property
    def value(self) -> Decimal:
        """Market value of one contract."""
        return self.price * self.multiplier

    def intrinsic(self, at: Decimal) -> Decimal:
        return max(at - self.strike, ZERO) if self.right == "call" else max(self.strike - at, ZERO)


def _months_after(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _fmt(value: Decimal) -> str:
    """A number for a rule text: cents when exact, else every digit (nothing is rounded)."""
    if value == value.quantize(CENT):
        return format(value.quantize(CENT), "f")
    return format(value.normalize(), "f")


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _pct(rate: Decimal) -> str:
    return f"{_num(rate * 100)}%"


def _floor(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_FLOOR)


def _gcd(quantities: Iterable[Decimal]) -> Decimal | None:
    """The greatest common divisor of whole quantities; None if any is fractional."""
    divisor = 0
    for quantity in quantities:
        if quantity != quantity.to_integral_value():
            return None
        divisor = math.gcd(divisor, int(abs(quantity)))
    return Decimal(divisor) if divisor else None


def _legs(items: Iterable[tuple[str, Decimal]]) -> list[tuple[str, Decimal]]:
    return [(symbol, quantity) for symbol, quantity in items if quantity != 0]


def _add(legs: Legs, more: Legs) -> Legs:
    total = dict(legs)
    for option, quantity in more.items():
        total[option] = total.get(option, ZERO) + quantity
    return {o: q for o, q in sorted(total.items()) if q != 0}


def _sub(legs: Legs, less: Legs) -> Legs:
    return _add(legs, {o: -q for o, q in less.items()})


class _FlowNetwork:
    """Min-cost flow by successive shortest paths (Bellman-Ford, as costs may be negative)."""

    def __init__(self, size: int) -> None:
        self._edges: list[list] = []  # [head, residual capacity, cost]; edge ^ 1 is its reverse
        self._out: list[list[int]] = [[] for _ in range(size)]

    def edge(self, tail: int, head: int, capacity: Decimal, cost: Decimal) -> int:
        index = len(self._edges)
        self._edges += [[head, capacity, cost], [tail, ZERO, -cost]]
        self._out[tail].append(index)
        self._out[head].append(index + 1)
        return index

    def flow(self, index: int) -> Decimal:
        return self._edges[index ^ 1][1]

    def run(self, source: int, sink: int) -> None:
        """Augment along cheapest paths while they lower the cost."""
        size = len(self._out)
        while True:
            dist: list[Decimal | None] = [None] * size
            via = [-1] * size
            dist[source] = ZERO
            for _ in range(size):
                changed = False
                for tail in range(size):
                    base = dist[tail]
                    if base is None:
                        continue
                    for index in self._out[tail]:
                        head, capacity, cost = self._edges[index]
                        if capacity > 0 and (dist[head] is None or base + cost < dist[head]):
                            dist[head], via[head], changed = base + cost, index, True
                if not changed:
                    break
            if dist[sink] is None or dist[sink] >= 0:  # type: ignore[operator]
                return
            push, node = None, sink
            while node != source:
                capacity = self._edges[via[node]][1]
                push = capacity if push is None else min(push, capacity)
                node = self._edges[via[node] ^ 1][0]
            node = sink
            while node != source:
                self._edges[via[node]][1] -= push
                self._edges[via[node] ^ 1][1] += push
                node = self._edges[via[node] ^ 1][0]


@dataclass
class _Pairing:
    """The cheapest pairwise treatment of some option legs (step 2 of the module docstring)."""

    spreads: list[tuple[Option, Option, Decimal]]  # short, long, contracts
    straddles: list[tuple[Option, Option, Decimal]]  # short call, short put, contracts
    naked: list[tuple[Option, Decimal]]
    longs: Legs  # left standalone
    covered: list[tuple[Option, Decimal]] = field(default_factory=list)  # by the stock
    free_shares: Decimal = ZERO  # stock left uncommitted (unsigned)


@dataclass
class _Book:
    """One underlying: its price, rates and option legs, and the search over their grouping."""

    symbol: str
    price: Decimal
    underlying_class: str
    leverage: Decimal
    rates: Rates
    shares: Decimal = ZERO  # the stock held (short < 0), which may cover short options
    # Memos for the search, which revisits the same legs many times.
    _costs: dict = field(default_factory=dict)
    _naked: dict = field(default_factory=dict)
    _pairings: dict = field(default_factory=dict)

    # --- the rule book, leg by leg --------------------------------------------------------

    @property
    def naked_rate(self) -> Decimal:
        rate = self.rates.naked_broad_index if self.is_broad else self.rates.naked
        return rate * self.leverage

    @property
    def minimum_rate(self) -> Decimal:
        return self.rates.naked_minimum * self.leverage

    @property
    def is_broad(self) -> bool:
        return self.underlying_class == "broad_index"

    def naked_per_share(self, option: Option) -> Decimal:
        """The naked requirement per share, net of the premium its proceeds pay."""
        if option not in self._naked:
            s, k = self.price, option.strike
            if option.right == "call":
                main, minimum = self.naked_rate * s - max(k - s, ZERO), self.minimum_rate * s
            else:
                main, minimum = self.naked_rate * s - max(s - k, ZERO), self.minimum_rate * k
            self._naked[option] = max(main, minimum)
        return self._naked[option]

    def naked_text(self, option: Option) -> str:
        """How ``naked_per_share`` is reached, with its numbers."""
        s, k = self.price, option.strike
        if option.right == "call":
            otm, minimum_base, base_name = max(k - s, ZERO), s, "the underlying"
        else:
            otm, minimum_base, base_name = max(s - k, ZERO), k, "the strike"
        basis = f"{_pct(self.naked_rate)} x {_num(s)}"
        if otm:
            basis += f" - {_num(otm)} out of the money"
        return f"max({basis}, {_pct(self.minimum_rate)} x {_num(minimum_base)} {base_name})"

    def naked_held(self, option: Option) -> Decimal:
        """Per contract: the rule book's requirement less the premium its proceeds pay."""
        return self.naked_per_share(option) * option.multiplier

    def naked_gross(self, option: Option) -> Decimal:
        """Per contract, as the Cboe manual quotes it: including 100% of the option's value."""
        return self.naked_held(option) + option.value

    def long_rate(self, option: Option) -> Decimal:
        return self.rates.long_option_required if option.loan_value else ONE

    def spread_loss(self, short: Option, long: Option) -> Decimal | None:
        """The maximum loss of one short contract against one long, or None if not a spread."""
        if short.right != long.right or short.multiplier != long.multiplier:
            return None
        if not self.covers(long, short.expiry):
            return None
        width = long.strike - short.strike if short.right == "call" else short.strike - long.strike
        return max(width, ZERO) * short.multiplier

    @staticmethod
    def covers(long: Option, short_expiry: date) -> bool:
        """A long leg may cover shorts expiring then: it must not expire first (FINRA 4210(f)(2)),
        and a European long, which cannot be exercised when the short is assigned, expires with it.
        """
        return long.expiry == short_expiry or (long.expiry > short_expiry and not long.european)

    def straddle_gross(self, call: Option, put: Option) -> Decimal:
        """The greater side's requirement plus the other side's premium, per pair of contracts."""
        call_gross, put_gross = self.naked_gross(call), self.naked_gross(put)
        return call_gross + put.value if call_gross >= put_gross else put_gross + call.value

    # --- netted maximum potential loss ----------------------------------------------------

    def max_loss(self, legs: Legs) -> tuple[Decimal, Decimal] | None:
        """FINRA RN 12-44: the worst net exercise obligation over zero and every strike present,
        and the price where it happens; None when the calls leave the upside unbounded.
        """
        if sum((-q * o.multiplier for o, q in legs.items() if o.right == "call"), ZERO) > 0:
            return None
        worst, at = ZERO, ZERO
        for point in sorted({ZERO, *(o.strike for o in legs)}):
            loss = sum((-q * o.multiplier * o.intrinsic(point) for o, q in legs.items()), ZERO)
            if loss > worst:
                worst, at = loss, point
        return worst, at

    def structure_cost(self, legs: Legs) -> Decimal | None:
        """A structure's held requirement (≥ 0), or None if it cannot stand as one."""
        if not legs:
            return ZERO
        key = tuple((o.symbol, q) for o, q in legs.items())
        if key not in self._costs:
            found = self.max_loss(legs)
            self._costs[key] = (
                None
                if found is None
                else max(found[0] + sum((q * o.value for o, q in legs.items()), ZERO), ZERO)
            )
        return self._costs[key]

    # --- step 2: the cheapest pairing -----------------------------------------------------

    def pair(self, legs: Legs, *, stock: bool = True) -> _Pairing:
        """Pair every short contract with the stock (covered), a long (spread), a short of the
        other right (straddle) or nothing (naked), at the least cost, by a min-cost flow.
        ``stock=False`` leaves the stock out (a structure's legs are options only).
        """
        key = (stock, *((o.symbol, q) for o, q in legs.items()))
        if key not in self._pairings:
            self._pairings[key] = self._pair(legs, self.shares if stock else ZERO)
        return self._pairings[key]

    def stock_initial(self, shares: Decimal) -> Decimal:
        """The initial requirement of ``shares`` (unsigned) of the stock held, long or short."""
        r = self.rates
        if self.shares > 0:
            return r.long_stock_initial * self.price * shares
        per_share = self.short_stock_per_share()[0]
        return max(r.short_stock_initial * self.price, per_share) * shares

    def covered_extra(self, option: Option) -> Decimal:
        """What covering one short contract with the stock adds to the stock's own requirement:
        nothing for a call, the in-the-money amount for a put, and never less than the group's
        zero floor allows (a premium above the stock's requirement is not a credit)."""
        in_the_money = max(option.strike - self.price, ZERO) if option.right == "put" else ZERO
        extra = in_the_money * option.multiplier
        lot = self.stock_initial(option.multiplier)
        return extra + max(option.value - lot - extra, ZERO)

    def _pair(self, legs: Legs, shares: Decimal) -> _Pairing:
        shorts = [(o, -q) for o, q in legs.items() if q < 0]
        longs = [(o, q) for o, q in legs.items() if q > 0]
        if not shorts:
            return _Pairing([], [], [], dict(longs), [], abs(shares))
        source, sink = 0, 1
        node = {o: index + 3 for index, (o, _) in enumerate(shorts + longs)}
        stock_node = 2
        network = _FlowNetwork(len(node) + 3)
        everything = sum((q for _, q in shorts + longs), ZERO)
        edges: list[tuple[int, Decimal]] = []  # (edge, capacity) for the bound below
        surcharge = {o: (ONE - self.long_rate(o)) * o.value for o, _ in longs}
        spread_edges, straddle_edges, naked_edges, long_edges = [], [], {}, {}
        forced = []
        for option, quantity in shorts:
            if option.right == "call":
                forced.append((source, node[option], quantity))
                naked_edges[option] = network.edge(
                    node[option], sink, everything, self.naked_gross(option)
                )
            else:
                forced.append((node[option], sink, quantity))
                naked_edges[option] = network.edge(
                    source, node[option], everything, self.naked_gross(option)
                )
        for option, quantity in longs:
            tail, head = (node[option], sink) if option.right == "call" else (source, node[option])
            long_edges[option] = network.edge(tail, head, quantity, surcharge[option])
        # The stock covers one multiplier's contracts (the commonest among the shorts it can
        # cover); a tie with another cover goes to the stock, whose maintenance it lowers.
        coverable = "call" if shares > 0 else "put"
        sizes = Counter(o.multiplier for o, _ in shorts if o.right == coverable)
        stock_edges = {}
        lots = ZERO
        if shares and sizes:
            multiplier = max(sizes, key=lambda m: (sizes[m], m))
            lots = _floor(abs(shares) / multiplier)
            if coverable == "call":
                network.edge(stock_node, sink, lots, ZERO)
            else:
                network.edge(source, stock_node, lots, ZERO)
            for option, _ in shorts:
                if option.right == coverable and option.multiplier == multiplier and lots:
                    cost = self.covered_extra(option) - TIE_BREAK
                    tail, head = (
                        (node[option], stock_node)
                        if coverable == "call"
                        else (stock_node, node[option])
                    )
                    stock_edges[option] = network.edge(tail, head, everything, cost)
        for short, _ in shorts:
            for long, _ in longs:
                loss = self.spread_loss(short, long)
                if loss is not None:
                    # A pair is floored at zero, so it costs at least the net credit it takes in.
                    loss = max(loss, short.value - long.value)
                    tail, head = (
                        (node[short], node[long])
                        if short.right == "call"
                        else (node[long], node[short])
                    )
                    spread_edges.append((short, long, network.edge(tail, head, everything, loss)))
        for call, _ in shorts:
            for put, _ in shorts:
                if call.right == "call" and put.right == "put":
                    if call.multiplier == put.multiplier:
                        cost = self.straddle_gross(call, put)
                        edge = network.edge(node[call], node[put], everything, cost)
                        straddle_edges.append((call, put, edge))
        for index in [*naked_edges.values(), *long_edges.values(), *stock_edges.values()]:
            edges.append((index, everything))
        for _, _, index in spread_edges + straddle_edges:
            edges.append((index, everything))
        # Saturating a short's edge is worth more than any real cost, so every short is covered.
        big = ONE + sum((abs(network._edges[i][2]) * cap for i, cap in edges), ZERO)
        for tail, head, quantity in forced:
            network.edge(tail, head, quantity, -big)
        network.run(source, sink)
        covered = [(o, network.flow(e)) for o, e in stock_edges.items() if network.flow(e)]
        used = sum((n * o.multiplier for o, n in covered), ZERO)
        return _Pairing(
            spreads=[(s, lg, network.flow(e)) for s, lg, e in spread_edges if network.flow(e)],
            straddles=[(c, p, network.flow(e)) for c, p, e in straddle_edges if network.flow(e)],
            naked=[(o, network.flow(e)) for o, e in naked_edges.items() if network.flow(e)],
            longs={
                o: q - network.flow(long_edges[o])
                for o, q in longs
                if q - network.flow(long_edges[o])
            },
            covered=covered,
            free_shares=abs(shares) - used,
        )

    def pairing_cost(self, pairing: _Pairing) -> Decimal:
        """What the pairing's groups need, each floored at zero as the output floors them."""
        total = sum(
            (
                max(self.structure_cost({short: -n, long: n}) or ZERO, ZERO)
                for short, long, n in pairing.spreads
            ),
            ZERO,
        )
        total += sum(
            (
                n * (self.straddle_gross(call, put) - call.value - put.value)
                for call, put, n in pairing.straddles
            ),
            ZERO,
        )
        total += sum((n * self.naked_held(o) for o, n in pairing.naked), ZERO)
        total += sum(
            (
                max(n * (self.stock_initial(o.multiplier) + self.covered_extra(o) - o.value), ZERO)
                for o, n in pairing.covered
            ),
            ZERO,
        )
        if pairing.free_shares:
            total += self.stock_initial(pairing.free_shares)
        return total + sum(
            (q * self.long_rate(o) * o.value for o, q in pairing.longs.items()), ZERO
        )

    # --- steps 3 and 4: netting, local search, split --------------------------------------

    def cost(self, legs: Legs, structures: dict[date, Legs]) -> Decimal | None:
        """Total held requirement of the structures plus the best pairing of the rest."""
        total = ZERO
        inside: Legs = {}
        for structure in structures.values():
            cost = self.structure_cost(structure)
            if cost is None:
                return None
            total += cost
            inside = _add(inside, structure)
        return total + self.pairing_cost(self.pair(_sub(legs, inside)))

    def _moves(
        self, legs: Legs, structures: dict[date, Legs], block: Decimal | None
    ) -> Iterator[dict[date, Legs]]:
        """Configurations one move away. Every move starts from the structure with all the spare
        longs that may join it (the trim drops the unneeded ones); then short series join (all,
        as much as the longs of their right balance, or one block; a put and a call together, as
        an iron condor is dearer than a strangle until both wings are in), a short series leaves
        (all or one block, alone or for another to join), a long with loan value leaves, or a
        long moves from another expiry's structure (which keeps the rest or dissolves).

        ``block`` is the greatest common divisor of the book's quantities: moving by blocks keeps
        the search the same, scaled, when every quantity is scaled.
        """
        inside: Legs = {}
        for structure in structures.values():
            inside = _add(inside, structure)
        outside = _sub(legs, inside)
        expiries = sorted(set(structures) | {o.expiry for o, q in outside.items() if q < 0})
        for expiry in expiries:
            base = _add(
                structures.get(expiry, {}),
                {o: q for o, q in outside.items() if q > 0 and self.covers(o, expiry)},
            )
            yield {**structures, expiry: base}
            candidates = [o for o, q in outside.items() if q < 0 and o.expiry == expiry]
            leaves: list[Legs] = [{}]
            for option, quantity in base.items():
                if quantity < 0 or option.loan_value:
                    for amount in self._amounts(abs(quantity), block):
                        leaves.append({option: -amount if quantity > 0 else amount})
            for leave in leaves:
                start = _add(base, leave)
                if leave:
                    yield {**structures, expiry: start}
                joins: dict[str, list[Legs]] = {"call": [], "put": []}
                for option in candidates:
                    net_long = sum(
                        (q * o.multiplier for o, q in start.items() if o.right == option.right),
                        ZERO,
                    )
                    balanced = _floor(net_long / option.multiplier)
                    for amount in self._amounts(-outside[option], block, balanced):
                        joins[option.right].append({option: -amount})
                        yield {**structures, expiry: _add(start, {option: -amount})}
                if not leave:
                    for call in joins["call"]:
                        for put in joins["put"]:
                            yield {**structures, expiry: _add(start, _add(call, put))}
            # A long serves one expiry at a time: it may be worth more to another structure.
            for other, structure in structures.items():
                for option, quantity in structure.items():
                    if other == expiry or quantity <= 0 or not self.covers(option, expiry):
                        continue
                    moved = {**structures, expiry: _add(base, {option: quantity})}
                    rest = _sub(structure, {option: quantity})
                    yield {**moved, other: rest}
                    yield {e: s for e, s in moved.items() if e != other}

    @staticmethod
    def _amounts(
        available: Decimal, block: Decimal | None, balanced: Decimal | None = None
    ) -> list[Decimal]:
        """How much of a series a move takes: all of it, one block, or the balanced amount."""
        amounts = {available}
        if block is not None:
            amounts.add(min(block, available))
        if balanced is not None:
            amounts.add(min(balanced, available))
        return sorted(a for a in amounts if a > 0)

    def search(self, legs: Legs) -> dict[date, Legs]:
        """Net the pairing's spreads per short expiry, then improve by the best single move
        (``_moves``) until none helps, and trim."""
        structures: dict[date, Legs] = {}
        for short, long, n in self.pair(legs).spreads:
            structures[short.expiry] = _add(structures.get(short.expiry, {}), {short: -n, long: n})
        if not any(q > 0 for q in legs.values()):
            return structures
        best = self.cost(legs, structures)
        assert best is not None, "spreads are bounded, and so is their netting"
        block = _gcd(legs.values())
        for _ in range(MAX_SEARCH_ROUNDS):
            found: tuple[Decimal, dict[date, Legs]] | None = None
            for candidate in self._moves(legs, structures, block):
                cost = self.cost(legs, candidate)
                if cost is not None and cost < (best if found is None else found[0]):
                    found = (cost, candidate)
            if found is None:
                break
            best, structures = found[0], found[1]
        return self._trim(legs, structures, best)

    def _trim(self, legs: Legs, structures: dict[date, Legs], best: Decimal) -> dict[date, Legs]:
        """Drop long legs a structure does not need (cost unchanged), then shortless structures."""
        for expiry in sorted(structures):
            for option in [o for o, q in structures[expiry].items() if q > 0]:
                structure = structures[expiry]
                same = [(o, q) for o, q in structure.items() if o.right == option.right]
                excess = _floor(sum((q * o.multiplier for o, q in same), ZERO) / option.multiplier)
                for amount in (structure[option], min(excess, structure[option])):
                    if amount <= 0:
                        continue
                    candidate = {**structures, expiry: _sub(structure, {option: amount})}
                    cost = self.cost(legs, candidate)
                    if cost is not None and cost <= best:
                        structures, best = candidate, cost
                        break
        return {e: s for e, s in structures.items() if s and any(q < 0 for q in s.values())}

    def split(self, structure: Legs) -> list[Legs]:
        """The smallest strategies the structure splits into without costing more."""
        target = self.structure_cost(structure)
        pairing = self.pair(structure, stock=False)
        atoms: list[Legs] = [{s: -n, lg: n} for s, lg, n in pairing.spreads]
        atoms += [{o: -n} for o, n in pairing.naked]
        atoms += [{c: -n} for c, _, n in pairing.straddles] + [
            {p: -n} for _, p, n in pairing.straddles
        ]
        atoms += [{o: q} for o, q in pairing.longs.items()]
        if len(atoms) > MAX_SPLIT_ATOMS or target is None:
            return [structure]

        def score(groups: list[Legs]) -> tuple[int, Decimal]:
            costs = [self.structure_cost(g) for g in groups]
            return sum(c is None for c in costs), sum((c for c in costs if c is not None), ZERO)

        def merge(groups: list[Legs], i: int, j: int) -> list[Legs]:
            return [g for k, g in enumerate(groups) if k not in (i, j)] + [
                _add(groups[i], groups[j])
            ]

        groups = atoms
        while len(groups) > 1 and score(groups) > (0, target):
            candidates = [
                merge(groups, i, j) for i in range(len(groups)) for j in range(i + 1, len(groups))
            ]
            groups = min(candidates, key=score)
        # At equal cost a whole named strategy explains more than its spreads (a short butterfly
        # is a bear and a bull spread at the same requirement, a long box two debit spreads).
        merged_any = True
        while merged_any:
            merged_any = False
            for i in range(len(groups)):
                for j in range(i + 1, len(groups)):
                    union = _add(groups[i], groups[j])
                    if self.structure_name(union)[0] in WHOLE_STRATEGIES and score(
                        merge(groups, i, j)
                    ) <= score(groups):
                        groups, merged_any = merge(groups, i, j), True
                        break
                if merged_any:
                    break
        return [dict(sorted(g.items())) for g in groups]

    # --- groups ---------------------------------------------------------------------------

    def structure_name(self, legs: Legs) -> tuple[str, str]:
        """The strategy a netted structure is, and a few words saying so."""
        options = sorted(legs, key=lambda o: (o.strike, o.right))
        same_expiry = len({o.expiry for o in options}) == 1
        sizes = {abs(q) * o.multiplier for o, q in legs.items()}
        if len(options) == 2:
            first, second = options
            if first.right == second.right and legs[first] * legs[second] < 0 and len(sizes) == 1:
                short = first if legs[first] < 0 else second
                long = second if short is first else first
                if same_expiry:
                    kind = "credit" if short.value > long.value else "debit"
                    return "vertical_spread", f"{kind} {short.right} vertical spread"
                shape = "calendar" if first.strike == second.strike else "diagonal"
                return "calendar", f"{shape} {short.right} spread (the long outlives the short)"
        calls = [o for o in options if o.right == "call"]
        puts = [o for o in options if o.right == "put"]
        if same_expiry and len(options) == 3 and (not calls or not puts):
            q = [legs[o] for o in options]
            wings = (options[1].strike - options[0].strike, options[2].strike - options[1].strike)
            if q[0] == q[2] and q[1] == -2 * q[0]:
                shape = "butterfly" if wings[0] == wings[1] else "broken-wing butterfly"
                side = "long" if q[0] > 0 else "short"
                return "butterfly", f"{side} {options[0].right} {shape}"
            if len(sizes) == 1:
                return "ladder", f"{options[0].right} ladder"
        if same_expiry and len(options) == 4 and len(sizes) == 1:
            if len(calls) == 4 or len(puts) == 4:
                q = [legs[o] for o in options]
                if q[0] == q[3] == -q[1] == -q[2]:
                    return "condor", f"{'long' if q[0] > 0 else 'short'} {options[0].right} condor"
            elif len(calls) == 2 and len(puts) == 2:
                (call_low, call_high), (put_low, put_high) = calls, puts
                if legs[call_low] * legs[call_high] < 0 and legs[put_low] * legs[put_high] < 0:
                    if {call_low.strike, call_high.strike} == {put_low.strike, put_high.strike}:
                        if legs[call_low] == -legs[put_low]:
                            return "box", "box spread"
                    if put_high.strike <= call_low.strike and legs[put_high] == legs[call_low]:
                        side = "short" if legs[put_high] < 0 else "long"
                        if put_high.strike == call_low.strike:
                            return "iron_butterfly", f"{side} iron butterfly"
                        return "iron_condor", f"{side} iron condor"
        return "max_loss", "multi-leg structure"

    def structure_group(self, legs: Legs) -> Group:
        found = self.max_loss(legs)
        assert found is not None, "a structure group is bounded by construction"
        loss, at = found
        paid = sum((q * o.value for o, q in legs.items() if q > 0), ZERO)
        proceeds = sum((-q * o.value for o, q in legs.items() if q < 0), ZERO)
        held = loss + paid - proceeds
        strategy, title = self.structure_name(legs)
        strikes = ", ".join(_num(k) for k in sorted({o.strike for o in legs}))
        rule = (
            f"{title}: maximum potential loss {_fmt(loss)} (exercise values netted at 0 and at "
            f"every strike {strikes}; worst at {_num(at)}) + long legs paid in full {_fmt(paid)} "
            f"- short proceeds {_fmt(proceeds)} = {_fmt(held)}"
        )
        return Group(
            strategy=strategy,
            legs=_legs((o.symbol, q) for o, q in legs.items()),
            initial=held,
            maintenance=held,
            fully_paid=max(paid - proceeds, ZERO),
            rule=rule,
        )

    def naked_group(self, option: Option, contracts: Decimal) -> Group:
        per_share, text = self.naked_per_share(option), self.naked_text(option)
        held = contracts * per_share * option.multiplier
        premium = contracts * option.value
        rule = (
            f"naked {option.right}: {text} = {_num(per_share)} a share x {_num(contracts)} x "
            f"{_num(option.multiplier)} = {_fmt(held)} (the rule book's {_fmt(held + premium)} "
            f"includes the {_fmt(premium)} premium, which the proceeds pay)"
        )
        return Group(
            f"naked_{option.right}", _legs([(option.symbol, -contracts)]), held, held, ZERO, rule
        )

    def straddle_group(self, call: Option, put: Option, contracts: Decimal) -> Group:
        gross_call, gross_put = (
            contracts * self.naked_gross(call),
            contracts * self.naked_gross(put),
        )
        proceeds = contracts * (call.value + put.value)
        held = contracts * (self.straddle_gross(call, put) - call.value - put.value)
        greater, other = ("call", put) if gross_call >= gross_put else ("put", call)
        name = "straddle" if call.strike == put.strike and call.expiry == put.expiry else "strangle"
        rule = (
            f"short {name}: the greater side, the {greater} ({_fmt(max(gross_call, gross_put))} "
            f"with its premium; the other side {_fmt(min(gross_call, gross_put))}), plus the "
            f"{other.right}'s premium {_fmt(contracts * other.value)}, less proceeds "
            f"{_fmt(proceeds)} = {_fmt(held)}"
        )
        legs = _legs([(call.symbol, -contracts), (put.symbol, -contracts)])
        return Group(name, legs, held, held, ZERO, rule)

    def long_group(self, option: Option, contracts: Decimal) -> Group:
        value = contracts * option.value
        held = value * self.long_rate(option)
        months = _num(self.rates.loan_value_months)
        if option.loan_value:
            rule = (
                f"long {option.right}, more than {months} months to expiry: "
                f"{_pct(self.rates.long_option_required)} of its value {_fmt(value)} = {_fmt(held)}"
            )
        else:
            rule = (
                f"long {option.right}, {months} months or less to expiry: paid in full "
                f"{_num(contracts)} x {_num(option.multiplier)} x {_num(option.price)} = "
                f"{_fmt(held)}"
            )
        paid = ZERO if option.loan_value else held
        return Group("long_option", _legs([(option.symbol, contracts)]), held, held, paid, rule)

    def long_pair_group(self, call: Option, put: Option, contracts: Decimal) -> Group:
        """A long straddle or strangle: both legs margined as long options, only named together."""
        parts = [self.long_group(call, contracts), self.long_group(put, contracts)]
        name = "straddle" if call.strike == put.strike and call.expiry == put.expiry else "strangle"
        return Group(
            name,
            parts[0].legs + parts[1].legs,
            parts[0].initial + parts[1].initial,
            parts[0].maintenance + parts[1].maintenance,
            parts[0].fully_paid + parts[1].fully_paid,
            f"long {name}, each leg on its own: " + "; ".join(p.rule for p in parts),
        )

    def options_groups(self, legs: Legs) -> tuple[list[Group], _Pairing]:
        """Groups for the option legs, and the pairing whose stock covers and standalone longs
        step 5 turns into groups."""
        legs = {o: q for o, q in sorted(legs.items()) if q != 0}
        if not any(q < 0 for q in legs.values()):
            return [], _Pairing([], [], [], legs, [], abs(self.shares))
        structures = self.search(legs)
        groups: list[Group] = []
        inside: Legs = {}
        for expiry in sorted(structures):
            inside = _add(inside, structures[expiry])
            groups += [self.structure_group(part) for part in self.split(structures[expiry])]
        pairing = self.pair(_sub(legs, inside))
        groups += [self.structure_group({s: -n, lg: n}) for s, lg, n in pairing.spreads]
        groups += [self.straddle_group(c, p, n) for c, p, n in pairing.straddles]
        groups += [self.naked_group(o, n) for o, n in pairing.naked]
        return groups, pairing

    # --- stock and step 5 -----------------------------------------------------------------

    def short_stock_per_share(self) -> tuple[Decimal, str]:
        s, r = self.price, self.rates
        if s >= r.low_price:
            rate, minimum = r.short_stock_maintenance, r.short_stock_per_share
        else:
            rate, minimum = r.low_price_maintenance, r.low_price_per_share
        text = f"max({_pct(rate)} x {_num(s)}, {_num(minimum)} a share)"
        return max(rate * s, minimum), text

    def stock_group(self, shares: Decimal) -> Group:
        value = abs(shares) * self.price
        r = self.rates
        if shares > 0:
            initial, maintenance = r.long_stock_initial * value, r.long_stock_maintenance * value
            rule = (
                f"long stock: {_pct(r.long_stock_initial)} of {_fmt(value)} = {_fmt(initial)}; "
                f"maintenance {_pct(r.long_stock_maintenance)} = {_fmt(maintenance)}"
            )
            return Group("long_stock", [(self.symbol, shares)], initial, maintenance, ZERO, rule)
        per_share, text = self.short_stock_per_share()
        maintenance = per_share * -shares
        initial = max(r.short_stock_initial * value, maintenance)
        rule = (
            f"short stock: initial {_pct(r.short_stock_initial)} of {_fmt(value)} (the proceeds "
            f"are in cash), at least the maintenance = {_fmt(initial)}; maintenance {text} x "
            f"{_num(-shares)} shares = {_fmt(maintenance)}"
        )
        return Group("short_stock", [(self.symbol, shares)], initial, maintenance, ZERO, rule)

    def covered_group(self, option: Option, contracts: Decimal) -> Group:
        """Long stock against short calls, or short stock against short puts."""
        shares = contracts * option.multiplier
        s, k, r = self.price, option.strike, self.rates
        proceeds = contracts * option.value
        if option.right == "call":
            initial = r.long_stock_initial * s * shares - proceeds
            maintenance = r.long_stock_maintenance * min(s, k) * shares - proceeds
            rule = (
                f"covered call: stock {_pct(r.long_stock_initial)} x {_num(s)} x {_num(shares)}, "
                f"nothing for the covered calls, less their proceeds {_fmt(proceeds)} = "
                f"{_fmt(initial)}; maintenance {_pct(r.long_stock_maintenance)} x "
                f"{_num(min(s, k))} (the stock valued at no more than the strike) x "
                f"{_num(shares)} - {_fmt(proceeds)} = {_fmt(maintenance)}"
            )
            legs = [(self.symbol, shares), (option.symbol, -contracts)]
            return Group("covered_call", legs, initial, maintenance, ZERO, rule)
        per_share, text = self.short_stock_per_share()
        in_the_money = max(k - s, ZERO) * shares
        initial = max(r.short_stock_initial * s, per_share) * shares + in_the_money - proceeds
        maintenance = per_share * shares + in_the_money - proceeds
        rule = (
            f"covered put: short stock {_fmt(max(r.short_stock_initial * s, per_share) * shares)} "
            f"+ the put's in-the-money amount {_fmt(in_the_money)} - its proceeds "
            f"{_fmt(proceeds)} = {_fmt(initial)}; maintenance {text} x {_num(shares)} + "
            f"{_fmt(in_the_money)} - {_fmt(proceeds)} = {_fmt(maintenance)}"
        )
        legs = [(self.symbol, -shares), (option.symbol, -contracts)]
        return Group("covered_put", legs, initial, maintenance, ZERO, rule)

    def hedge_per_share(self, option: Option) -> Decimal:
        """Cboe's hedged-underlying maintenance: 10% of the strike plus the out-of-the-money
        amount the long option leaves unprotected."""
        s, k = self.price, option.strike
        otm = max(s - k, ZERO) if option.right == "put" else max(k - s, ZERO)
        return self.rates.hedge_minimum * k + otm

    def hedged_group(self, long: Option, contracts: Decimal, short: Option | None = None) -> Group:
        """Stock with a long option against it (protective put or call), and, when ``short`` is
        given, the covered short option too (collar, conversion, reverse conversion)."""
        shares = contracts * long.multiplier
        s, r = self.price, self.rates
        paid = contracts * long.value * self.long_rate(long)
        proceeds = contracts * short.value if short else ZERO
        hedge = self.hedge_per_share(long)
        fully_paid = ZERO if long.loan_value else contracts * long.value
        same = short is not None and short.strike == long.strike and short.expiry == long.expiry
        if long.right == "put":
            valued_at = min(s, short.strike) if short else s
            cap = r.long_stock_maintenance * valued_at
            stock_initial = r.long_stock_initial * s * shares
            initial = stock_initial + paid - proceeds
            maintenance = min(hedge, cap) * shares + paid - proceeds
            name = ("conversion" if same else "collar") if short else "protective_put"
            rule = (
                f"{name.replace('_', ' ')}: stock {_fmt(stock_initial)} + put {_fmt(paid)}"
                + (f" - call proceeds {_fmt(proceeds)}" if short else "")
                + f" = {_fmt(initial)}; maintenance min({_pct(r.hedge_minimum)} x "
                f"{_num(long.strike)} + {_num(hedge - r.hedge_minimum * long.strike)} out of the "
                f"money, {_pct(r.long_stock_maintenance)} x {_num(valued_at)}"
                f") x {_num(shares)} + {_fmt(paid)}"
                + (f" - {_fmt(proceeds)}" if short else "")
                + f" = {_fmt(maintenance)}"
            )
            legs = [(self.symbol, shares), (long.symbol, contracts)]
        else:
            per_share, _ = self.short_stock_per_share()
            in_the_money = max(short.strike - s, ZERO) * shares if short else ZERO
            stock_initial = max(r.short_stock_initial * s, per_share) * shares
            initial = stock_initial + in_the_money + paid - proceeds
            per_share_hedged = min(hedge, per_share)
            maintenance = per_share_hedged * shares + in_the_money + paid - proceeds
            if same:
                k = long.strike
                conversion = (r.hedge_minimum * k + max(k - s, ZERO)) * shares + paid - proceeds
                maintenance = min(maintenance, conversion)
            name = ("reverse_conversion" if same else "collar") if short else "protective_call"
            rule = (
                f"{name.replace('_', ' ')}{' (short stock)' if name == 'collar' else ''}: short "
                f"stock {_fmt(stock_initial)}"
                + (f" + put in the money {_fmt(in_the_money)}" if short else "")
                + f" + call {_fmt(paid)}"
                + (f" - put proceeds {_fmt(proceeds)}" if short else "")
                + f" = {_fmt(initial)}; maintenance min({_pct(r.hedge_minimum)} x "
                f"{_num(long.strike)} + out of the money, the short-stock rate) = "
                f"{_num(per_share_hedged)} a share x {_num(shares)}"
                + (f" + {_fmt(in_the_money)}" if short else "")
                + f" + {_fmt(paid)}"
                + (f" - {_fmt(proceeds)}" if short else "")
                + (" (at most 10% of the strike + the put in the money)" if same else "")
                + f" = {_fmt(maintenance)}"
            )
            legs = [(self.symbol, -shares), (long.symbol, contracts)]
        if short:
            legs.append((short.symbol, -contracts))
            fully_paid = max(fully_paid - proceeds, ZERO)
        return Group(name, legs, initial, maintenance, fully_paid, rule)

    def hedge(
        self, *, long_stock: bool, free: Decimal, covered: list[tuple[Option, Decimal]], longs: Legs
    ) -> list[Group]:
        """Step 5: the stock left and the covered groups take the leftover long options that
        lower their maintenance (best hedge first); what is left stays on its own."""
        groups: list[Group] = []
        right = "put" if long_stock else "call"
        cap_free = (
            self.rates.long_stock_maintenance * self.price
            if long_stock
            else self.short_stock_per_share()[0]
        )
        cover_left = dict(covered)
        candidates = sorted(
            (o for o, q in longs.items() if o.right == right and q > 0),
            key=lambda o: (self.hedge_per_share(o), o),
        )
        longs = dict(longs)
        for option in candidates:
            hedge = self.hedge_per_share(option)
            if free and hedge < cap_free:
                contracts = min(longs[option], _floor(free / option.multiplier))
                if contracts > 0:
                    groups.append(self.hedged_group(option, contracts))
                    free -= contracts * option.multiplier
                    longs[option] -= contracts
            for short in sorted(cover_left, key=lambda o: (-o.strike, o)):
                available = cover_left[short]
                cap = (
                    self.rates.long_stock_maintenance * min(self.price, short.strike)
                    if long_stock
                    else cap_free
                )
                if available <= 0 or short.multiplier != option.multiplier or hedge >= cap:
                    continue
                contracts = min(longs[option], available)
                if contracts > 0:
                    groups.append(self.hedged_group(option, contracts, short))
                    cover_left[short] -= contracts
                    longs[option] -= contracts
        groups += [self.covered_group(o, n) for o, n in cover_left.items() if n > 0]
        if free:
            groups.append(self.stock_group(free if long_stock else -free))
        longs = {o: q for o, q in longs.items() if q > 0}
        return groups + self.long_groups(longs)

    def long_groups(self, longs: Legs) -> list[Group]:
        """Long options on their own, a call and a put of one expiry named as a straddle."""
        groups = []
        longs = dict(sorted(longs.items()))
        for call in [o for o in longs if o.right == "call"]:
            for put in [o for o in longs if o.right == "put"]:
                if put.expiry == call.expiry and put.multiplier == call.multiplier:
                    contracts = min(longs[call], longs[put])
                    if contracts > 0:
                        groups.append(self.long_pair_group(call, put, contracts))
                        longs[call] -= contracts
                        longs[put] -= contracts
        return groups + [self.long_group(o, q) for o, q in longs.items() if q > 0]

    def groups(self, legs: Legs) -> list[Group]:
        """The cheapest grouping of this underlying's stock and options."""
        option_groups, pairing = self.options_groups(legs)
        hedged = self.hedge(
            long_stock=self.shares > 0,
            free=pairing.free_shares if self.shares else ZERO,
            covered=pairing.covered,
            longs=pairing.longs,
        )
        return hedged + option_groups


def _option(instrument: Instrument, as_of: date, rates: Rates) -> Option:
    assert instrument.strike is not None and instrument.expiry is not None
    months = int(rates.loan_value_months)
    return Option(
        right=str(instrument.right),
        expiry=instrument.expiry,
        strike=instrument.strike,
        symbol=instrument.symbol,
        multiplier=instrument.multiplier,
        price=instrument.price,
        european=instrument.exercise_style == "european",
        loan_value=instrument.expiry > _months_after(as_of, months),
    )


@policy_register(POLICY)
def cboe_strategy(portfolio: Portfolio) -> MarginResult:
    """Margin ``portfolio`` under the strategy-based rules, underlying by underlying."""
    rates = rates_read(portfolio)
    stock: dict[str, Decimal] = {}
    options: dict[str, Legs] = {}
    for position in portfolio.positions:
        instrument = portfolio.instrument(position.symbol)
        underlying = portfolio.underlying_of(instrument).symbol
        if instrument.is_option:
            option = _option(instrument, portfolio.as_of, rates)
            legs = options.setdefault(underlying, {})
            legs[option] = legs.get(option, ZERO) + position.quantity
        else:
            stock[underlying] = stock.get(underlying, ZERO) + position.quantity
    groups: list[Group] = []
    for symbol in sorted(set(stock) | set(options)):
        instrument = portfolio.instrument(symbol)
        book = _Book(
            symbol=symbol,
            price=instrument.price,
            underlying_class=instrument.underlying_class,
            leverage=instrument.leverage,
            rates=rates,
            shares=stock.get(symbol, ZERO),
        )
        groups += book.groups(options.get(symbol, {}))
    return result_assemble(policy=POLICY, portfolio=portfolio, groups=groups)
