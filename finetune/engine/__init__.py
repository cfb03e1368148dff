"""A schema-driven engine of SQL training data: from any database, requests and gold SELECTs.

The hand-written SQL datasets (``finetune/datasets/sql*.py``) know one domain. This engine
knows none: given any SQLite or PostgreSQL database it

1. reads the **profile** of the live schema (:mod:`finetune.engine.profile`): tables,
   columns and declared types, foreign keys, the values of low-cardinality text columns,
   the ranges of numeric and date columns, which columns hold NULLs, sample names;
2. **composes** query intents of nine shapes (:data:`FAMILIES`: filter, multi_filter,
   aggregate, group, order_topk, join, subquery, distinct, lookup) with real values, each
   with the SQLite SELECT the SQL specialist is trained to write
   (:mod:`finetune.engine.compose`);
3. **checks** every target with :meth:`tools.sql.SqlDatabase.run` (validate, then execute)
   and drops, counting by reason, those that fail, return no rows, a count of nothing or an
   aggregate of NULL;
4. **phrases** each kept intent as several requests in different styles and words
   (:mod:`finetune.engine.phrasing`);
5. writes JSONL records in the format of ``finetune/data/sql/train.jsonl``, with an
   optional held-out split whose targets the train split never uses.

:func:`finetune.engine.__main__.generate` runs steps 1 to 4 on an open database; the command
line is ``python -m finetune.engine --database URL_OR_PATH --out FILE --count N --seed S
[--heldout FILE --heldout-count M]``; the same seed gives a byte-identical file.
"""

from finetune.engine.compose import FAMILIES, Composer, Condition, Intent, Measure
from finetune.engine.phrasing import STYLES, realise
from finetune.engine.profile import (
    ColumnProfile,
    ForeignKey,
    SchemaProfile,
    TableProfile,
    read_profile,
)

__all__ = [
    "FAMILIES",
    "STYLES",
    "ColumnProfile",
    "Composer",
    "Condition",
    "ForeignKey",
    "Intent",
    "Measure",
    "SchemaProfile",
    "TableProfile",
    "read_profile",
    "realise",
]
