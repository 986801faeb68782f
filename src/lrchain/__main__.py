from lrchain.cli import main

raise SystemExit(main())
