"""approval groups: requests of one kind asked for together (a supervisor's statement review)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 20:40:00
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_STATES = ('requested', 'approved', 'denied', 'expired')


def upgrade() -> None:
    op.create_table('approval_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('approver_role', sa.String(length=32), nullable=False),
    sa.Column('requested_on', sa.Date(), nullable=False),
    sa.Column('requested_at', models.base.AwareDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('state', sa.Enum(*_STATES, name='approvalstate', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('decided_at', models.base.AwareDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('held', sa.Text(), nullable=False),
    sa.Column('flow_run_id', sa.String(length=64), nullable=True),
    sa.Column('code_hash', sa.String(length=128), nullable=True),
    sa.Column('code_sent_on', sa.Date(), nullable=True),
    sa.Column('reminders', sa.Integer(), nullable=False),
    sa.Column('refusals', sa.Integer(), nullable=False),
    sa.Column('last_refused_attempt', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_groups')),
    sa.UniqueConstraint('key', name=op.f('uq_approval_groups_key'))
    )
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_key', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('held', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_approvals_group_key'), ['group_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approvals_group_key'))
        batch_op.drop_column('held')
        batch_op.drop_column('group_key')
    op.drop_table('approval_groups')
