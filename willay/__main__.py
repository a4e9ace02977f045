from willay.cli import main

main()
