from famfs.cli.main import main

raise SystemExit(main())
