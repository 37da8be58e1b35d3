from dfviewer.cli.main import main

raise SystemExit(main())
