"""Model instances to canonical items and back.

An item holds ``id`` (the primary key) and every concrete field by its name:
a foreign key as the related primary key (``"author": 3``), a many-to-many
field as the sorted list of related primary keys. Values are normalised the
way the database returns them (a ``DecimalField`` quantised to its places, a
naive datetime made aware when ``USE_TZ`` is off), so an item read back after
a save equals the item recorded for it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from maestro_core import decode_item, encode_item
from maestro_core.codec import encode_value

from .conf import SyncedModel, model_for_entity
from .exceptions import InexactValueError, MissingFieldError, UnwritableValueError

__all__ = [
    "DjangoSerializer",
    "RemoteValues",
    "item_from_instance",
    "pk_from_item_id",
    "remote_values",
]

logger = logging.getLogger(__name__)

_INTEGER = (
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "PositiveBigIntegerField",
)
_TEXT = (
    "CharField",
    "TextField",
    "SlugField",
    "EmailField",
    "URLField",
    "FilePathField",
    "FileField",
    "ImageField",
    "GenericIPAddressField",
    "IPAddressField",
)
_EXPECTED: dict[str, tuple[tuple[type, ...], str]] = {
    **{name: ((int,), "an integer") for name in _INTEGER},
    **{name: ((str,), "a string") for name in _TEXT},
    "FloatField": ((int, float), "a number"),
    "DecimalField": ((decimal.Decimal, int), 'a {"$numberDecimal": ...} or integer'),
    "BooleanField": ((bool,), "true or false"),
    "DateTimeField": ((dt.datetime,), 'a {"$date": ...} value'),
    "DateField": ((dt.date,), 'a {"$dateOnly": ...} value'),
    "TimeField": ((dt.time,), 'a {"$time": ...} value'),
    "DurationField": ((dt.timedelta,), 'a {"$timedelta": ...} value'),
    "UUIDField": ((uuid.UUID, str), 'a {"$uuid": ...} value'),
    "BinaryField": ((bytes,), 'a {"$binary": ...} value'),
}

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def _is_written(field: models.Field) -> bool:
    """Whether *field* is a stored column an item carries."""
    return field.concrete and not getattr(field, "generated", False)


def _fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if _is_written(f)]


def _m2m_fields(model: type[models.Model]) -> list[models.ManyToManyField]:
    return [f for f in model._meta.many_to_many if isinstance(f, models.Field)]


def _column_value(field: models.Field, value: Any) -> Any:
    """*value* of *field* as the database would give it back."""
    if value is None:
        return None
    if field.is_relation:
        return _column_value(field.target_field, value)
    kind = field.get_internal_type()
    if kind in ("FileField", "ImageField") or isinstance(field, models.FileField):
        return getattr(value, "name", value) or ""
    if kind == "BinaryField":
        return bytes(value)
    if kind == "JSONField":
        return value
    value = field.to_python(value)
    if kind == "DecimalField" and field.decimal_places is not None:
        if value.is_finite():
            value = value.quantize(decimal.Decimal(1).scaleb(-field.decimal_places))
    elif kind == "DateTimeField" and timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return value


def pk_value(model: type[models.Model], value: Any) -> Any:
    """A primary key value of *model* in its Python form."""
    return _column_value(model._meta.pk, value)


def pk_from_item_id(model: type[models.Model], item_id: str) -> Any:
    """The primary key an ``item_id`` names, or an UnwritableValueError."""
    try:
        return pk_value(model, item_id)
    except (ValidationError, ValueError, TypeError) as e:
        raise UnwritableValueError(
            f"item id {item_id!r} is not a valid primary key of "
            f"{model._meta.label_lower}: {_message(e)}",
            item_id=item_id,
            key="id",
        ) from e


def item_from_instance(
    synced: SyncedModel, instance: models.Model, *, related: bool = True
) -> dict[str, Any]:
    """The item of *instance* in Python values (the core encodes them).

    With *related*, many-to-many fields are read from the database; pass
    ``False`` for an instance whose relations are already gone.
    """
    model = synced.model
    item: dict[str, Any] = {"id": pk_value(model, instance.pk)}
    pk_name = model._meta.pk.name
    for f in _fields(model):
        if f.primary_key and pk_name == "id":
            continue
        try:
            item[f.name] = _column_value(f, getattr(instance, f.attname))
        except ValidationError as e:
            raise UnwritableValueError(
                f"{model._meta.label_lower} {instance.pk!r} field {f.name!r} holds "
                f"{getattr(instance, f.attname)!r}: {_message(e)}",
                item_id=str(instance.pk),
                key=f.name,
            ) from e
    for f in _m2m_fields(model):
        if related and instance.pk is not None:
            pks = getattr(instance, f.name).values_list("pk", flat=True)
            item[f.name] = sorted(pk_value(f.related_model, pk) for pk in pks)
        else:
            item[f.name] = []
    return item


class RemoteValues:
    """What a remote item asks to write: column values and relation lists."""

    __slots__ = ("columns", "foreign_keys", "many_to_many")

    def __init__(self) -> None:
        self.columns: dict[str, Any] = {}
        self.foreign_keys: dict[models.ForeignKey, Any] = {}
        self.many_to_many: dict[models.ManyToManyField, list[Any]] = {}


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(str(m) for m in error.messages)
    return str(error)


def _warn_unknown(synced: SyncedModel, name: str) -> None:
    key = (synced.entity_name, name)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(
        "remote items of %r carry field %r, which %s does not have; dropping it",
        synced.entity_name,
        name,
        synced.label,
    )


_SQLITE_DECIMAL = decimal.Context(prec=15).create_decimal_from_float
"""How SQLite gives a decimal back: a float, read to 15 significant digits."""


def _as_stored(target: models.Field, value: Any, vendor: str) -> Any:
    """*value*, already converted for *target*, as the row will read back.

    Predicted from the field type and the database, so that checking a
    remote change costs no query: JSON goes through its encoder and decoder
    (PostgreSQL's ``jsonb`` also turns a float of 1e16 or more into an
    integer), SQLite keeps 15 significant digits of a decimal, and without
    ``USE_TZ`` a datetime is stored in the default time zone. Raises
    ValueError for JSON no database accepts (NaN and infinities).
    """
    if value is None:
        return None
    kind = target.get_internal_type()
    if kind == "JSONField":
        dumped = json.dumps(value, cls=target.encoder, allow_nan=False)
        stored = json.loads(dumped, cls=target.decoder)
        return _as_jsonb(stored) if vendor == "postgresql" else stored
    if kind == "DecimalField" and vendor == "sqlite" and value.is_finite():
        if len(value.as_tuple().digits) > 15:
            places = decimal.Decimal(1).scaleb(-(target.decimal_places or 0))
            return _SQLITE_DECIMAL(float(value)).quantize(
                places, context=target.context
            )
    if kind == "DateTimeField" and not settings.USE_TZ:
        zone = timezone.get_default_timezone()
        return timezone.make_aware(timezone.make_naive(value, zone), zone)
    return value


_JSONB_INTEGRAL = 1e16
"""From here on a float's JSON has an exponent, which ``jsonb`` keeps as a
whole decimal and prints as an integer."""


def _as_jsonb(value: Any) -> Any:
    """Decoded JSON as PostgreSQL's ``jsonb`` gives it back."""
    if isinstance(value, float) and abs(value) >= _JSONB_INTEGRAL:
        return int(value)
    if isinstance(value, list):
        return [_as_jsonb(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_jsonb(v) for k, v in value.items()}
    return value


def _exactly(target: models.Field) -> str:
    """What a value of *target* must look like to be stored unchanged."""
    kind = target.get_internal_type()
    if kind == "DecimalField" and target.decimal_places is not None:
        places = target.decimal_places
        return f"expected a decimal with {places} decimal place{'s' * (places != 1)}"
    expected = _EXPECTED.get(kind)
    if expected is not None:
        return f"expected {expected[1]} the field holds unchanged"
    return "expected a value the field holds unchanged"


def _remote_value(
    synced: SyncedModel,
    item_id: str,
    field: models.Field,
    value: Any,
    *,
    sent: Any = None,
    vendor: str | None = None,
) -> Any:
    """*value* converted for *field*; with a *vendor*, also checked to be
    stored exactly as *sent* (its canonical form)."""

    def refuse(reason: str) -> UnwritableValueError:
        return UnwritableValueError(
            f"item {item_id!r} of {synced.entity_name!r} has {field.name!r} = "
            f"{value!r}; {reason}",
            item_id=item_id,
            key=field.name,
        )

    if value is None:
        if not field.null:
            raise refuse("expected a value, the field is not nullable")
        return None
    target = field.target_field if field.is_relation else field
    kind = target.get_internal_type()
    expected = _EXPECTED.get(kind)
    if expected is not None:
        types, description = expected
        wrong = not isinstance(value, types) or (
            isinstance(value, bool) and bool not in types
        )
        if kind == "DateField" and isinstance(value, dt.datetime):
            wrong = True
        if wrong:
            raise refuse(f"expected {description}")
    try:
        converted = _column_value(target, value)
        if not field.is_relation:
            field.run_validators(converted)
        stored = None if vendor is None else _as_stored(target, converted, vendor)
    except (ValidationError, ValueError, TypeError, decimal.InvalidOperation) as e:
        raise refuse(f"expected a value the field can hold ({_message(e)})") from e
    if vendor is not None and encode_value(stored) != sent:
        raise InexactValueError(
            f"{synced.label} {item_id!r} field {field.name!r}: {value!r} would be "
            f"stored as {stored!r}; {_exactly(target)}",
            item_id=item_id,
            key=field.name,
        )
    if kind == "DateTimeField" and not settings.USE_TZ:
        converted = timezone.make_naive(converted, timezone.get_default_timezone())
    return converted


def remote_values(
    synced: SyncedModel,
    item_id: str,
    item: Mapping[str, Any],
    *,
    exact_for: str | None = None,
) -> RemoteValues:
    """The writes a canonical remote *item* asks for, checked field by field.

    Unknown fields are dropped with one warning per model and field;
    read-only fields and fields outside an explicit list are ignored.
    A value the field cannot hold raises UnwritableValueError.

    With *exact_for*, the vendor of the database written to (``"sqlite"``,
    ``"postgresql"``, ...), the item must also be stored exactly as sent:
    every field it may write present (else MissingFieldError) and every
    value reading back the same canonical value (else InexactValueError).
    """
    model = synced.model
    meta = model._meta
    pk_name = meta.pk.name
    by_name = {f.name: f for f in _fields(model)}
    m2m = {f.name: f for f in _m2m_fields(model)}
    values = RemoteValues()
    decoded = decode_item(item)
    if exact_for is not None:
        _check_complete(synced, item_id, decoded, [*by_name, *m2m], pk_name)
    for name, value in decoded.items():
        if name == "id" or name == pk_name:
            continue
        field = by_name.get(name) or m2m.get(name)
        if field is None:
            _warn_unknown(synced, name)
            continue
        if not synced.may_write(name):
            continue
        sent = item[name]
        if isinstance(field, models.ManyToManyField):
            if not isinstance(value, list):
                raise UnwritableValueError(
                    f"item {item_id!r} of {synced.entity_name!r} has {name!r} = "
                    f"{value!r}; expected a list of related ids",
                    item_id=item_id,
                    key=name,
                )
            target = field.related_model._meta.pk
            related = [_remote_value(synced, item_id, target, v) for v in value]
            if exact_for is not None:
                held = sorted(set(related))
                if encode_value(held) != sent:
                    raise InexactValueError(
                        f"{synced.label} {item_id!r} field {name!r}: {value!r} "
                        f"would be stored as {held!r}; expected the sorted list of "
                        "distinct related ids",
                        item_id=item_id,
                        key=name,
                    )
            values.many_to_many[field] = related
            continue
        converted = _remote_value(
            synced, item_id, field, value, sent=sent, vendor=exact_for
        )
        values.columns[field.attname] = converted
        if field.is_relation and converted is not None:
            values.foreign_keys[field] = converted
    return values


def _check_complete(
    synced: SyncedModel,
    item_id: str,
    item: Mapping[str, Any],
    names: list[str],
    pk_name: str,
) -> None:
    """Refuse an item lacking a field the model stores and remote changes write.

    A change carries the whole item: a row missing a field would take its
    default here while the other providers hold no such field.
    """
    for name in names:
        if name not in item and name != pk_name and synced.may_write(name):
            raise MissingFieldError(
                f"{synced.label} {item_id!r} lacks field {name!r}, which the "
                "model stores; expected every field remote changes write (the "
                "row would take the field's default, which the sender does not "
                "hold)",
                item_id=item_id,
                key=name,
            )


class DjangoSerializer:
    """The backend's serializer: model instances to canonical items and back."""

    def serialize(self, entity_name: str, record: Any) -> dict[str, Any]:
        synced = model_for_entity(entity_name)
        return encode_item(item_from_instance(synced, record))

    def deserialize(self, entity_name: str, item: dict[str, Any]) -> Any:
        """An unsaved instance holding the item's column values."""
        synced = model_for_entity(entity_name)
        item_id = str(decode_item({"id": item["id"]})["id"])
        values = remote_values(synced, item_id, item)
        instance = synced.model(**values.columns)
        instance.pk = pk_from_item_id(synced.model, item_id)
        return instance
