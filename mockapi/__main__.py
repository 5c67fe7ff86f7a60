from mockapi.cli import main

main()
