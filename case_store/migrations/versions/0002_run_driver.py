"""runs: driver identity (to recover a run left "running" by a dead driver) and input key

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('driver', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('input_key', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('input_key')
        batch_op.drop_column('driver')
