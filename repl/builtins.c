/* repl/builtins.c */
