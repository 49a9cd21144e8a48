/* repl/main.c */
