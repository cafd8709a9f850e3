"""collection days: the days the daily collection finished

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 17:30:00
"""
from alembic import op
import sqlalchemy as sa
import models.base


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('collection_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('policy', sa.String(length=200), nullable=False),
    sa.Column('accounts', sa.Integer(), nullable=False),
    sa.Column('taken', sa.Integer(), nullable=False),
    sa.Column('problems', sa.Integer(), nullable=False),
    sa.Column('finished_at', models.base.AwareDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_collection_days'))
    )


def downgrade() -> None:
    op.drop_table('collection_days')
