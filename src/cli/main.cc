// The clustertls command: see cli/app.h.
#include "cli/app.h"

int main(int argc, char** argv) { return clustertls::cli::Main(argc, argv); }
