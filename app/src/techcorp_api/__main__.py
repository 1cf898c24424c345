from techcorp_api.serve import main

main()
