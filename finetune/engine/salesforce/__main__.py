"""Command line: ``python -m finetune.engine.salesforce --out FILE --count N --seed S``.

See :func:`finetune.engine.salesforce.engine.main`.
"""

from finetune.engine.salesforce.engine import main

if __name__ == "__main__":
    raise SystemExit(main())
