/* repl/session.c: the top of the REPL's layers. bs_repl_init registers every tool's command set,
 * in the order :help lists them, as a Lua host opens its libraries after making a state: a
 * session (eval.c) is the interpreter alone until then. Nothing below calls up into this file
 * (cmdtab.c). */
#include "repl_int.h"

void bs_repl_init(void)
{
    bs_commands_register(&bs_inspect_commands);
    bs_commands_register(&bs_stepper_commands);
    bs_commands_register(&bs_viewer_commands);
    bs_commands_register(&bs_run_commands);
    bs_commands_register(&bs_lesson_commands);
    bs_commands_register(&bs_session_commands);
}
