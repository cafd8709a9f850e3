"""a customer's contract terms for late-payment charges, as the customers file imports them (issue #17)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 00:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('late_charge_rate', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('late_charge_grace_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('late_charge_cap', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('contract_clause', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('contract_clause')
        batch_op.drop_column('late_charge_cap')
        batch_op.drop_column('late_charge_grace_days')
        batch_op.drop_column('late_charge_rate')
