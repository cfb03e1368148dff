"""A schema-driven engine of Salesforce training data: from any org, requests and gold actions.

The hand-written Salesforce datasets (``finetune/datasets/salesforce_*.py``) know the demo
org. This engine knows none: given a :class:`~tools.salesforce.SalesforceClient` and the
objects to cover, it

1. reads the **profile** of the org (:func:`read_org`; :mod:`finetune.engine.salesforce.profile`):
   per object its fields as ``describe()`` lists them (name, label, type, picklist values,
   reference targets, createable, updateable, nillable) and a sample of real values per
   field, parent fields included, from one SOQL query;
2. **composes** intents (:class:`Composer`, :func:`compose`;
   :mod:`finetune.engine.salesforce.compose`, with :data:`FAMILIES` and the parts of an
   intent in :mod:`finetune.engine.salesforce.intents`): queries with zero to three filters
   over real fields and values (AND, OR, ranges, IN and NOT IN, LIKE, null checks, booleans,
   date literals such as ``THIS_YEAR`` or ``LAST_N_DAYS:30``, absolute dates and years),
   ``COUNT()`` and aggregates with ``GROUP BY`` and ``HAVING``, ``ORDER BY ... LIMIT``,
   parent fields (``Account.Name``) and parents by Id; a get by a real Id; a create with
   the required fields and some createable ones, picklist values from the describe; an
   update of updateable fields by a real Id; a delete by a real Id; a describe;
3. **checks** every target with :meth:`~tools.salesforce.SalesforceClient.validate_action`
   (its normal form must be the target itself) and runs the reads on the org
   (:mod:`finetune.engine.salesforce.engine`); the writes are validated only, so nothing in
   the org changes. A failing candidate is dropped and counted by reason, and so is an
   intent composed before;
4. **phrases** each kept intent as two to four requests in different styles (:func:`realise`;
   :mod:`finetune.engine.salesforce.phrasing`, with the words of
   :mod:`finetune.engine.salesforce.words` and :mod:`finetune.engine.salesforce.voice`):
   questions, commands, keywords, chatty, polite and terse lines, some in lower case, some
   with one word misspelt or the numbers in words, objects and fields named as people say
   them (``Opportunity`` -> deal, ``AnnualRevenue`` -> turnover); every Id and every
   free-text value of the action is copied into the request verbatim;
5. writes JSONL records in the format of ``finetune/data/salesforce/train.jsonl``.

:func:`generate` runs steps 1 to 4 with a held-out split first whose intents the train
split never reuses. The command line, ``python -m finetune.engine.salesforce --out FILE
[--heldout FILE] --count N --seed S`` (:func:`main`), runs it on the offline sandbox org
with its day fixed (:data:`finetune.datasets.common.SANDBOX_ANCHOR`), so the same seed gives
a byte-identical file.
"""

from finetune.engine.salesforce.compose import TOP_K, Composer, compose
from finetune.engine.salesforce.engine import (
    GOLD_ROW_LIMIT,
    default_objects,
    generate,
    main,
    report,
)
from finetune.engine.salesforce.intents import (
    ACTION_OF,
    FAMILIES,
    WEIGHTS,
    Condition,
    Intent,
    Meaning,
    target_of,
)
from finetune.engine.salesforce.phrasing import Forms, realise
from finetune.engine.salesforce.phrasing import _lower_keeping as _lower_keeping  # for the tests
from finetune.engine.salesforce.profile import (
    MAX_LITERAL,
    SAMPLE_RECORDS,
    FieldProfile,
    ObjectProfile,
    OrgProfile,
    obj_name_fields,
    read_org,
)
from finetune.engine.salesforce.words import field_nouns, name_words, number_words, object_nouns

__all__ = [
    "ACTION_OF",
    "FAMILIES",
    "GOLD_ROW_LIMIT",
    "MAX_LITERAL",
    "SAMPLE_RECORDS",
    "TOP_K",
    "WEIGHTS",
    "Composer",
    "Condition",
    "FieldProfile",
    "Forms",
    "Intent",
    "Meaning",
    "ObjectProfile",
    "OrgProfile",
    "compose",
    "default_objects",
    "field_nouns",
    "generate",
    "main",
    "name_words",
    "number_words",
    "obj_name_fields",
    "object_nouns",
    "read_org",
    "realise",
    "report",
    "target_of",
]
