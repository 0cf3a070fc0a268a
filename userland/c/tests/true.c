/* true: does nothing, successfully — the program the exec benchmarks run. */
int main(void)
{
	return 0;
}
