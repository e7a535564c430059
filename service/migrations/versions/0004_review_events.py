"""Compliance review events: assignments, per-citation decisions, verdicts, adjudications;
append-only like answers and feedback. And the review pages' browser sessions.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("answer_id", sa.String(64), sa.ForeignKey("answers.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("previous", sa.JSON, nullable=True),
    )
    op.create_index("review_events_by_answer", "review_events", ["answer_id", "created_at"])
    op.create_index("review_events_by_actor", "review_events", ["actor_id", "created_at"])
    op.create_table(
        "review_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(64), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER review_events_append_only_{action.lower()} BEFORE {action} "
                "ON review_events BEGIN SELECT RAISE(ABORT, 'review_events is append-only'); END"
            )
    elif dialect == "postgresql":
        # verirag_append_only() is revision 0001's.
        op.execute(
            "CREATE TRIGGER review_events_append_only BEFORE UPDATE OR DELETE ON review_events "
            "FOR EACH ROW EXECUTE FUNCTION verirag_append_only()"
        )
        op.execute(
            "CREATE TRIGGER review_events_append_only_truncate BEFORE TRUNCATE ON review_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION verirag_append_only()"
        )


def downgrade() -> None:
    op.drop_table("review_sessions")
    op.drop_table("review_events")
