"""unapplied credits: what a customer paid beyond its open invoices, kept and used (issue #15)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 04:00:00
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('unapplied_credits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('amount', models.base.Money(precision=18, scale=2), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=True),
    sa.Column('payment_id', sa.String(length=64), nullable=True),
    sa.Column('recorded_on', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_at', models.base.AwareDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_unapplied_credits_customer_id_customers')),
    sa.ForeignKeyConstraint(['line_id'], ['bank_lines.id'], name=op.f('fk_unapplied_credits_line_id_bank_lines')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.payment_id'], name=op.f('fk_unapplied_credits_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unapplied_credits')),
    sa.UniqueConstraint('key', name=op.f('uq_unapplied_credits_key'))
    )
    op.create_index(op.f('ix_unapplied_credits_customer_id'), 'unapplied_credits', ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_unapplied_credits_customer_id'), table_name='unapplied_credits')
    op.drop_table('unapplied_credits')
