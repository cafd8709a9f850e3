"""approval runs that end undecided are started again; refused answers rate-limited (issue #12)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 09:00:00

``runs_ended`` counts a request's (or a list's) waiting runs that ended
without a decision, ``run_ended_at`` marks one waiting for its new run, and
``recent_refusals`` holds the last hour's refused answers per approver. Code
hashes stored by earlier versions (a plain SHA-256) stay and no longer match:
the next daily run emails a new code to the same waiting run.
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('approvals', 'approval_groups'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('runs_ended', sa.Integer(), server_default='0', nullable=False))
            batch_op.add_column(sa.Column('run_ended_at', models.base.AwareDateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column('recent_refusals', sa.Text(), server_default='', nullable=False))


def downgrade() -> None:
    for table in ('approval_groups', 'approvals'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('recent_refusals')
            batch_op.drop_column('run_ended_at')
            batch_op.drop_column('runs_ended')
