"""account state in facets: credit standing and shipping lock apart, their history, events taken

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 08:10:00

The ``locked`` status becomes the shipping lock alone (``locked_on`` stays);
the credit standing of such an account is ``active`` again, as no credit
change made it anything else (a blacklist used to overwrite the lock instead).
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('standing_since', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('standing_invoices', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('lock_invoices', sa.Text(), server_default='', nullable=False))
    op.execute("UPDATE customers SET status = 'active' WHERE status = 'locked'")
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('effect', sa.String(length=32), nullable=True))
    op.create_table('account_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('facet', sa.String(length=32), nullable=False),
    sa.Column('changed_on', sa.Date(), nullable=False),
    sa.Column('old_value', sa.String(length=64), nullable=False),
    sa.Column('new_value', sa.String(length=64), nullable=False),
    sa.Column('cause', sa.String(length=250), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('invoices', sa.Text(), nullable=False),
    sa.Column('changed_at', models.base.AwareDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_account_changes_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_changes'))
    )
    op.create_index('ix_account_changes_customer', 'account_changes', ['customer_id', 'id'], unique=False)
    op.create_table('events_taken',
    sa.Column('event_key', sa.String(length=250), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('action_key', sa.String(length=200), nullable=False),
    sa.Column('taken_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_events_taken_customer_id_customers')),
    sa.PrimaryKeyConstraint('event_key', name=op.f('pk_events_taken'))
    )
    op.create_index(op.f('ix_events_taken_customer_id'), 'events_taken', ['customer_id'], unique=False)
    # The credit-limit history joins the other facets' (one history, one place).
    op.execute(
        "INSERT INTO account_changes (customer_id, facet, changed_on, old_value, new_value, cause, reason, invoices, changed_at)"
        " SELECT customer_id, 'credit_limit', changed_on, COALESCE(CAST(old_limit AS VARCHAR(64)), ''),"
        " COALESCE(CAST(new_limit AS VARCHAR(64)), ''), 'credit policy', reason, '', changed_at FROM credit_limit_changes ORDER BY id"
    )
    op.drop_index(op.f('ix_credit_limit_changes_customer_id'), table_name='credit_limit_changes')
    op.drop_table('credit_limit_changes')


def downgrade() -> None:
    op.create_table('credit_limit_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('changed_on', sa.Date(), nullable=False),
    sa.Column('old_limit', models.base.Money(precision=18, scale=2), nullable=True),
    sa.Column('new_limit', models.base.Money(precision=18, scale=2), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('changed_at', models.base.AwareDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_credit_limit_changes_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_limit_changes'))
    )
    op.create_index(op.f('ix_credit_limit_changes_customer_id'), 'credit_limit_changes', ['customer_id'], unique=False)
    op.drop_index(op.f('ix_events_taken_customer_id'), table_name='events_taken')
    op.drop_table('events_taken')
    op.drop_index('ix_account_changes_customer', table_name='account_changes')
    op.drop_table('account_changes')
    op.execute("UPDATE customers SET status = 'locked' WHERE locked_on IS NOT NULL AND status = 'active'")
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_column('effect')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('lock_invoices')
        batch_op.drop_column('standing_invoices')
        batch_op.drop_column('standing_since')
