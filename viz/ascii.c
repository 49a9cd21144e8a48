/* viz/ascii.c */
