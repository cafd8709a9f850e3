"""a statement whose address bounced is sent again once the address is fixed: the day it bounced and the day it was fixed

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 21:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bounced_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('readdressed_on', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.drop_column('readdressed_on')
        batch_op.drop_column('bounced_on')
