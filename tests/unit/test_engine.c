#include "check.h"
int main(void) { CHECK(1); return check_summary(); }
