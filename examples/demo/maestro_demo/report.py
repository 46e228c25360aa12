"""What the demo prints: numbered steps, and tables of each store's records."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from attrs import define, field

from maestro_core import DataStore

__all__ = ["Comparison", "Narrator", "StoreView", "compare", "describe_item"]

INDENT = "   "


@define
class StoreView:
    """A provider's store, and how to list the ids of the records it holds.

    The ids come from the database itself (a query, a collection listing),
    not from Maestro's records, so a table shows what is really stored.
    """

    store: DataStore
    list_ids: Callable[[str], Sequence[str]]

    @property
    def name(self) -> str:
        return self.store.provider_id


@define
class Comparison:
    """Each record of some entities, as every store holds it."""

    keys: list[tuple[str, str]]
    items: dict[tuple[str, str], dict[str, dict[str, Any] | None]]
    stores: list[str]

    def agreeing(self, key: tuple[str, str]) -> bool:
        values = list(self.items[key].values())
        return all(value == values[0] for value in values)

    @property
    def agree(self) -> bool:
        return all(self.agreeing(key) for key in self.keys)


def compare(views: Sequence[StoreView], entities: Sequence[str]) -> Comparison:
    """Read every record any of *views* holds, from every one of them."""
    keys = sorted(
        {
            (entity, str(item_id))
            for view in views
            for entity in entities
            for item_id in view.list_ids(entity)
        },
        key=lambda key: (entities.index(key[0]), key[1]),
    )
    items = {
        key: {view.name: view.store.get_item(*key) for view in views} for key in keys
    }
    return Comparison(keys=keys, items=items, stores=[v.name for v in views])


def _display(value: Any) -> str:
    if isinstance(value, Mapping) and len(value) == 1:
        tag, body = next(iter(value.items()))
        if tag == "$date":
            return str(body).replace("T", " ").replace(".000000", "")
        if tag == "$numberDecimal":
            return str(body)
    if value == "":
        return '""'
    return str(value)


def describe_item(
    item: Mapping[str, Any] | None, field_order: Sequence[str] = ()
) -> str:
    """A record's fields on one line, the id left out.

    Fields named in *field_order* come first, in that order; stores list
    fields in orders of their own.
    """
    if item is None:
        return "(not stored)"
    rank = {name: index for index, name in enumerate(field_order)}
    names = sorted(
        (k for k in item if k != "id"), key=lambda k: (rank.get(k, len(rank)), k)
    )
    return "  ".join(f"{k}={_display(item[k])}" for k in names)


@define
class Narrator:
    """Prints the story: headings, lines, command output and tables."""

    out: TextIO
    field_order: Mapping[str, Sequence[str]] = field(factory=dict)
    """For each entity, the order to show its fields in."""
    step: int = field(default=0, init=False)

    def heading(self, text: str) -> None:
        self.step += 1
        print(f"\n{self.step}. {text}", file=self.out, flush=True)

    def line(self, text: str = "") -> None:
        print(f"{INDENT}{text}".rstrip(), file=self.out, flush=True)

    def command(self, text: str, output: str) -> None:
        self.line(f"$ {text}")
        for line in output.rstrip("\n").splitlines():
            self.line(f"  {line}")

    def table(self, comparison: Comparison) -> None:
        """One row per record and group of stores holding the same values."""
        if not comparison.keys:
            self.line("(no records)")
            return
        width = max(len(f"{e}/{i}") for e, i in comparison.keys) + 2
        held_width = len(", ".join(comparison.stores)) + 2
        self.line(f"{'record':<{width}}{'stores':<{held_width}}values")
        for key in comparison.keys:
            groups: list[tuple[dict[str, Any] | None, list[str]]] = []
            for store, item in comparison.items[key].items():
                for value, stores in groups:
                    if value == item:
                        stores.append(store)
                        break
                else:
                    groups.append((item, [store]))
            record = f"{key[0]}/{key[1]}"
            order = self.field_order.get(key[0], ())
            for item, stores in groups:
                label = describe_item(item, order)
                self.line(f"{record:<{width}}{', '.join(stores):<{held_width}}{label}")
                record = ""
