from dca.cli import main

raise SystemExit(main())
