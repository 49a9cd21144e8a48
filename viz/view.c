/* viz/view.c */
