#include <iostream>

int main() {
  std::cout << "latte\n";
  return 0;
}
