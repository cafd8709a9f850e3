"""letter deliveries: the courier's proof that a posted letter reached the customer (issue #17)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 00:00:00
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('letter_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_key', sa.String(length=250), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('delivered_on', sa.Date(), nullable=False),
    sa.Column('courier', sa.String(length=50), nullable=True),
    sa.Column('tracking_no', sa.String(length=100), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=True),
    sa.Column('recorded_at', models.base.AwareDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_letter_deliveries_customer_id_customers')),
    sa.ForeignKeyConstraint(['document_key'], ['outbox.key'], name=op.f('fk_letter_deliveries_document_key_outbox')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_letter_deliveries')),
    sa.UniqueConstraint('document_key', name=op.f('uq_letter_deliveries_document_key'))
    )
    op.create_index(op.f('ix_letter_deliveries_customer_id'), 'letter_deliveries', ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_letter_deliveries_customer_id'), table_name='letter_deliveries')
    op.drop_table('letter_deliveries')
