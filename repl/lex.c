/* repl/lex.c */
