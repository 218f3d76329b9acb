from services.rbac.main import main

main()
