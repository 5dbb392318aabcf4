# [snippet]
c++ -std=c++17 main.cpp $(pkg-config --cflags --libs safetensors) -o list_tensors
# [/snippet]
