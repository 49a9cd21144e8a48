/* repl/parse.c */
