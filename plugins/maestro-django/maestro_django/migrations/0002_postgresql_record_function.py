"""The PostgreSQL function that records one local change.

A captured save on PostgreSQL issues a timestamp, reads the item's version,
inserts the change and writes the new version in one call of this function.
The function's statements are planned once per database session; the same
work sent as one statement would be planned again on every save. Other
databases get nothing from this migration.
"""

from django.db import migrations

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION maestro_record_local_change(
    p_wall bigint,
    p_entity text,
    p_item_id text,
    p_origin text,
    p_id text,
    p_operation text,
    p_item text,
    p_heads text,
    p_refuse_settling boolean
) RETURNS TABLE (
    issued_timestamp bigint,
    parent_id text,
    new_vector text,
    old_operation text,
    old_vector text,
    old_heads text
) LANGUAGE plpgsql AS $$
DECLARE
    issued bigint;
    base record;
    advanced jsonb;
BEGIN
    -- the clock row stays locked until the transaction ends, so that
    -- timestamps follow commit order
    UPDATE maestro_clock
    SET value = CASE WHEN value < p_wall THEN p_wall ELSE value + 1 END
    WHERE id = 1
    RETURNING value INTO issued;
    IF NOT FOUND THEN
        INSERT INTO maestro_clock AS clock (id, value) VALUES (1, p_wall)
        ON CONFLICT (id) DO UPDATE SET value = CASE
            WHEN clock.value < p_wall THEN p_wall ELSE clock.value + 1 END
        RETURNING value INTO issued;
    END IF;
    -- read after the clock: a transaction that changed the version while
    -- this one waited has committed by now, and its row is the base
    SELECT v.change_id, v.operation, v.vector, v.heads INTO base
    FROM maestro_item_version AS v
    WHERE v.entity_name = p_entity AND v.item_id = p_item_id
    FOR UPDATE;
    -- settling waiting conflicts takes more statements in this transaction,
    -- which a caller about to commit cannot send
    IF p_refuse_settling AND jsonb_array_length(base.heads::jsonb) > 1 THEN
        RAISE EXCEPTION 'the change settles waiting conflicts'
            USING ERRCODE = 'MA001';
    END IF;
    advanced := COALESCE(base.vector::jsonb, '{}'::jsonb) || jsonb_build_object(
        p_origin,
        GREATEST(issued, COALESCE((base.vector::jsonb ->> p_origin)::bigint, 0))
    );
    INSERT INTO maestro_change (
        id, origin, timestamp, operation, entity_name, item_id, item, vector,
        parent_id
    ) VALUES (
        p_id, p_origin, issued, p_operation, p_entity, p_item_id, p_item,
        advanced::text, base.change_id
    );
    INSERT INTO maestro_item_version AS v
        (entity_name, item_id, change_id, operation, vector, heads)
    VALUES (p_entity, p_item_id, p_id, p_operation, advanced::text, p_heads)
    ON CONFLICT (entity_name, item_id) DO UPDATE SET
        change_id = EXCLUDED.change_id,
        operation = EXCLUDED.operation,
        vector = EXCLUDED.vector,
        heads = EXCLUDED.heads;
    RETURN QUERY SELECT issued, base.change_id::text, advanced::text,
        base.operation::text, base.vector::text, base.heads::text;
END
$$
"""

DROP_FUNCTION = """
DROP FUNCTION IF EXISTS maestro_record_local_change(
    bigint, text, text, text, text, text, text, text, boolean
)
"""


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_FUNCTION)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_FUNCTION)


class Migration(migrations.Migration):
    dependencies = [("maestro", "0001_initial")]

    operations = [migrations.RunPython(create_function, drop_function)]
