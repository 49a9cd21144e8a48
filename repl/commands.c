/* repl/commands.c */
