"""ingest_results.carved: the files a unit carved, so a cache hit in another case registers them too

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL on rows written before: what they carved is unknown, so they count as not cached (run once more)
    with op.batch_alter_table('ingest_results', schema=None) as batch_op:
        batch_op.add_column(sa.Column('carved', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ingest_results', schema=None) as batch_op:
        batch_op.drop_column('carved')
