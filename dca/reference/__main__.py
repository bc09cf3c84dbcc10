"""``python -m dca.reference run|list|collect``: the reference experiment's jobs (:mod:`dca.reference.runner`)."""

from dca.reference.runner import main

raise SystemExit(main())
