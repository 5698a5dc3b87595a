from rollout_bot.cli import main

main()
