#include "tools/synth/model_family.h"
