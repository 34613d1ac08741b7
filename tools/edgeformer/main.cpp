#include <cstdio>

int main() {
  std::puts("edgeformer: under construction");
  return 0;
}
