// Precompiled header for translation units that use LibTorch (keeps CI build time down).
#pragma once
#include <torch/torch.h>
