#include "tools/synth/model_family.h"
int main() { return 0; }
