/* viz/gv.c */
