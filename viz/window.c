/* viz/window.c */
