// Package all registers every spoofer shipped with pollab (Zhang et al.'s, Fang et al.'s
// infinitesimal update and Blindfold Top-Q): the harness and the CLI import it for its side
// effect, as a program imports its database/sql drivers. A new attack adds its blank import
// here.
package all

import (
	_ "pollab/attacks/blindfold"
	_ "pollab/attacks/infinitesimal"
	_ "pollab/attacks/zhang"
)
