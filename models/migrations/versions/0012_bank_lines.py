"""bank lines: the bank statement's incoming transfers, the payments they became, the payers' known accounts (issue #15)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 01:30:00
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bank_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('transaction_id', sa.String(length=64), nullable=True),
    sa.Column('booked_on', sa.Date(), nullable=False),
    sa.Column('amount', models.base.Money(precision=18, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('payer', sa.String(length=200), nullable=False),
    sa.Column('payer_account', sa.String(length=64), nullable=False),
    sa.Column('reference', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('state', sa.Enum('applied', 'waiting', 'ignored', name='banklinestate', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_on', sa.Date(), nullable=True),
    sa.Column('imported_at', models.base.AwareDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_bank_lines_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_lines')),
    sa.UniqueConstraint('key', name=op.f('uq_bank_lines_key'))
    )
    op.create_index(op.f('ix_bank_lines_customer_id'), 'bank_lines', ['customer_id'], unique=False)
    op.create_index(op.f('ix_bank_lines_payer_account'), 'bank_lines', ['payer_account'], unique=False)
    op.create_index('ix_bank_lines_state_booked', 'bank_lines', ['state', 'booked_on'], unique=False)
    op.create_index(op.f('ix_bank_lines_transaction_id'), 'bank_lines', ['transaction_id'], unique=False)
    op.create_table('payer_accounts',
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('payer', sa.String(length=200), nullable=False),
    sa.Column('remembered_on', sa.Date(), nullable=False),
    sa.Column('remembered_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_payer_accounts_customer_id_customers')),
    sa.PrimaryKeyConstraint('account', 'customer_id', name=op.f('pk_payer_accounts'))
    )
    op.create_index(op.f('ix_payer_accounts_customer_id'), 'payer_accounts', ['customer_id'], unique=False)
    op.create_table('bank_line_payments',
    sa.Column('line_id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['line_id'], ['bank_lines.id'], name=op.f('fk_bank_line_payments_line_id_bank_lines')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.payment_id'], name=op.f('fk_bank_line_payments_payment_id_payments')),
    sa.PrimaryKeyConstraint('line_id', 'payment_id', name=op.f('pk_bank_line_payments')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_bank_line_payments_payment_id'))
    )


def downgrade() -> None:
    op.drop_table('bank_line_payments')
    op.drop_index(op.f('ix_payer_accounts_customer_id'), table_name='payer_accounts')
    op.drop_table('payer_accounts')
    op.drop_index(op.f('ix_bank_lines_transaction_id'), table_name='bank_lines')
    op.drop_index('ix_bank_lines_state_booked', table_name='bank_lines')
    op.drop_index(op.f('ix_bank_lines_payer_account'), table_name='bank_lines')
    op.drop_index(op.f('ix_bank_lines_customer_id'), table_name='bank_lines')
    op.drop_table('bank_lines')
