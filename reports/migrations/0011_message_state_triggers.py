"""Triggers that log the state changes the message rollup counts (ADR 0029).

An outbox row counts as skipped (by reason) or failed (never left) on the day it was due;
an enrolment as converted on the day it converted, at its step and variant; a split step's
log row as an assignment on its day. When a row enters, leaves or moves within one of
these counts — whatever code or SQL changed it — the trigger writes -1 for what it
counted and +1 for what it counts now into `reports_messagestatechange`, in the same
transaction. The rollup's catch-up consumes those rows.
"""

# ruff: noqa: S608 (the SQL is assembled from this file's constants only)

from django.db import migrations

# The metric an outbox row counts in, from its status and whether it ever left.
_MESSAGE_METRIC = (
    "CASE WHEN {row}.status = 'skipped' THEN 'skipped' "
    "WHEN {row}.status = 'failed' AND {row}.sent_at IS NULL THEN 'failed' END"
)
_LOG = (
    "INSERT INTO reports_messagestatechange "
    "(at, delta, metric, reason, message_pk, journey_pk, step, variant)"
)

POSTGRESQL = [
    f"""
CREATE FUNCTION reports_message_state_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was text;
    counts text := {_MESSAGE_METRIC.format(row="NEW")};
BEGIN
    IF TG_OP = 'UPDATE' THEN
        was := {_MESSAGE_METRIC.format(row="OLD")};
        IF was IS NOT DISTINCT FROM counts AND OLD.skip_reason = NEW.skip_reason
           AND OLD.due_at = NEW.due_at THEN
            RETURN NULL;
        END IF;
        IF was IS NOT NULL THEN
            {_LOG} VALUES (OLD.due_at, -1, was, OLD.skip_reason, OLD.id, NULL, '', '');
        END IF;
    END IF;
    IF counts IS NOT NULL THEN
        {_LOG} VALUES (NEW.due_at, 1, counts, NEW.skip_reason, NEW.id, NULL, '', '');
    END IF;
    RETURN NULL;
END
$$""",
    """
CREATE TRIGGER reports_message_state_insert AFTER INSERT ON campaigns_message
FOR EACH ROW WHEN (NEW.status = 'skipped' OR (NEW.status = 'failed' AND NEW.sent_at IS NULL))
EXECUTE FUNCTION reports_message_state_change()""",
    """
CREATE TRIGGER reports_message_state_update
AFTER UPDATE OF status, skip_reason, sent_at, due_at ON campaigns_message
FOR EACH ROW WHEN (OLD.status IN ('skipped', 'failed') OR NEW.status IN ('skipped', 'failed'))
EXECUTE FUNCTION reports_message_state_change()""",
    f"""
CREATE FUNCTION reports_enrolment_state_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.converted_at IS NOT NULL THEN
        IF OLD.converted_at = NEW.converted_at AND OLD.journey_id = NEW.journey_id
           AND OLD.converted_step = NEW.converted_step AND OLD.variant = NEW.variant
           AND OLD.converted_message_id IS NOT DISTINCT FROM NEW.converted_message_id THEN
            RETURN NULL;
        END IF;
        {_LOG} VALUES (OLD.converted_at, -1, 'converted', '', OLD.converted_message_id,
                       OLD.journey_id, OLD.converted_step, OLD.variant);
    END IF;
    IF NEW.converted_at IS NOT NULL THEN
        {_LOG} VALUES (NEW.converted_at, 1, 'converted', '', NEW.converted_message_id,
                       NEW.journey_id, NEW.converted_step, NEW.variant);
    END IF;
    RETURN NULL;
END
$$""",
    """
CREATE TRIGGER reports_enrolment_state_insert AFTER INSERT ON campaigns_enrolment
FOR EACH ROW WHEN (NEW.converted_at IS NOT NULL)
EXECUTE FUNCTION reports_enrolment_state_change()""",
    """
CREATE TRIGGER reports_enrolment_state_update
AFTER UPDATE OF converted_at, converted_step, converted_message_id, variant, journey_id
ON campaigns_enrolment
FOR EACH ROW WHEN (OLD.converted_at IS NOT NULL OR NEW.converted_at IS NOT NULL)
EXECUTE FUNCTION reports_enrolment_state_change()""",
    f"""
CREATE FUNCTION reports_steplog_state_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.variant <> '' THEN
        IF OLD.at = NEW.at AND OLD.journey_id = NEW.journey_id AND OLD.step = NEW.step
           AND OLD.variant = NEW.variant THEN
            RETURN NULL;
        END IF;
        {_LOG} VALUES (OLD.at, -1, 'assigned', '', NULL, OLD.journey_id, OLD.step, OLD.variant);
    END IF;
    IF NEW.variant <> '' THEN
        {_LOG} VALUES (NEW.at, 1, 'assigned', '', NULL, NEW.journey_id, NEW.step, NEW.variant);
    END IF;
    RETURN NULL;
END
$$""",
    """
CREATE TRIGGER reports_steplog_state_insert AFTER INSERT ON campaigns_steplog
FOR EACH ROW WHEN (NEW.variant <> '')
EXECUTE FUNCTION reports_steplog_state_change()""",
    """
CREATE TRIGGER reports_steplog_state_update
AFTER UPDATE OF at, journey_id, step, variant ON campaigns_steplog
FOR EACH ROW WHEN (OLD.variant <> '' OR NEW.variant <> '')
EXECUTE FUNCTION reports_steplog_state_change()""",
]

POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS reports_message_state_insert ON campaigns_message",
    "DROP TRIGGER IF EXISTS reports_message_state_update ON campaigns_message",
    "DROP TRIGGER IF EXISTS reports_enrolment_state_insert ON campaigns_enrolment",
    "DROP TRIGGER IF EXISTS reports_enrolment_state_update ON campaigns_enrolment",
    "DROP TRIGGER IF EXISTS reports_steplog_state_insert ON campaigns_steplog",
    "DROP TRIGGER IF EXISTS reports_steplog_state_update ON campaigns_steplog",
    "DROP FUNCTION IF EXISTS reports_message_state_change()",
    "DROP FUNCTION IF EXISTS reports_enrolment_state_change()",
    "DROP FUNCTION IF EXISTS reports_steplog_state_change()",
]

# SQLite: no procedures; each trigger's body inserts what differs, with the same rules.
_OLD_MESSAGE = _MESSAGE_METRIC.format(row="OLD")
_NEW_MESSAGE = _MESSAGE_METRIC.format(row="NEW")
_MESSAGE_MOVED = (
    f"(({_OLD_MESSAGE}) IS NOT ({_NEW_MESSAGE}) OR OLD.skip_reason <> NEW.skip_reason "
    "OR OLD.due_at <> NEW.due_at)"
)
_ENROLMENT_MOVED = (
    "(OLD.converted_at IS NOT NEW.converted_at OR OLD.journey_id <> NEW.journey_id "
    "OR OLD.converted_step <> NEW.converted_step OR OLD.variant <> NEW.variant "
    "OR OLD.converted_message_id IS NOT NEW.converted_message_id)"
)
_STEPLOG_MOVED = (
    "(OLD.at <> NEW.at OR OLD.journey_id <> NEW.journey_id OR OLD.step <> NEW.step "
    "OR OLD.variant <> NEW.variant)"
)

SQLITE = [
    f"""
CREATE TRIGGER reports_message_state_insert AFTER INSERT ON campaigns_message
WHEN NEW.status = 'skipped' OR (NEW.status = 'failed' AND NEW.sent_at IS NULL)
BEGIN
    {_LOG} VALUES (NEW.due_at, 1, {_NEW_MESSAGE}, NEW.skip_reason, NEW.id, NULL, '', '');
END""",
    f"""
CREATE TRIGGER reports_message_state_update
AFTER UPDATE OF status, skip_reason, sent_at, due_at ON campaigns_message
WHEN OLD.status IN ('skipped', 'failed') OR NEW.status IN ('skipped', 'failed')
BEGIN
    {_LOG} SELECT OLD.due_at, -1, {_OLD_MESSAGE}, OLD.skip_reason, OLD.id, NULL, '', ''
    WHERE ({_OLD_MESSAGE}) IS NOT NULL AND {_MESSAGE_MOVED};
    {_LOG} SELECT NEW.due_at, 1, {_NEW_MESSAGE}, NEW.skip_reason, NEW.id, NULL, '', ''
    WHERE ({_NEW_MESSAGE}) IS NOT NULL AND {_MESSAGE_MOVED};
END""",
    f"""
CREATE TRIGGER reports_enrolment_state_insert AFTER INSERT ON campaigns_enrolment
WHEN NEW.converted_at IS NOT NULL
BEGIN
    {_LOG} VALUES (NEW.converted_at, 1, 'converted', '', NEW.converted_message_id,
                   NEW.journey_id, NEW.converted_step, NEW.variant);
END""",
    f"""
CREATE TRIGGER reports_enrolment_state_update
AFTER UPDATE OF converted_at, converted_step, converted_message_id, variant, journey_id
ON campaigns_enrolment
WHEN OLD.converted_at IS NOT NULL OR NEW.converted_at IS NOT NULL
BEGIN
    {_LOG} SELECT OLD.converted_at, -1, 'converted', '', OLD.converted_message_id,
                  OLD.journey_id, OLD.converted_step, OLD.variant
    WHERE OLD.converted_at IS NOT NULL AND {_ENROLMENT_MOVED};
    {_LOG} SELECT NEW.converted_at, 1, 'converted', '', NEW.converted_message_id,
                  NEW.journey_id, NEW.converted_step, NEW.variant
    WHERE NEW.converted_at IS NOT NULL AND {_ENROLMENT_MOVED};
END""",
    f"""
CREATE TRIGGER reports_steplog_state_insert AFTER INSERT ON campaigns_steplog
WHEN NEW.variant <> ''
BEGIN
    {_LOG} VALUES (NEW.at, 1, 'assigned', '', NULL, NEW.journey_id, NEW.step, NEW.variant);
END""",
    f"""
CREATE TRIGGER reports_steplog_state_update
AFTER UPDATE OF at, journey_id, step, variant ON campaigns_steplog
WHEN OLD.variant <> '' OR NEW.variant <> ''
BEGIN
    {_LOG} SELECT OLD.at, -1, 'assigned', '', NULL, OLD.journey_id, OLD.step, OLD.variant
    WHERE OLD.variant <> '' AND {_STEPLOG_MOVED};
    {_LOG} SELECT NEW.at, 1, 'assigned', '', NULL, NEW.journey_id, NEW.step, NEW.variant
    WHERE NEW.variant <> '' AND {_STEPLOG_MOVED};
END""",
]

SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {name}"
    for name in (
        "reports_message_state_insert",
        "reports_message_state_update",
        "reports_enrolment_state_insert",
        "reports_enrolment_state_update",
        "reports_steplog_state_insert",
        "reports_steplog_state_update",
    )
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for statement in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0010_message_state_changes"),
        ("campaigns", "0005_enrolment_occasion"),
    ]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRESQL_DROP, "sqlite": SQLITE_DROP}),
        ),
    ]
