from lumabench.cli import main

main()
